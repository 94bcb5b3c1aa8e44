"""AWS resource detection, on by default under ``opentelemetry-instrument``, chosen from what the host shows.

The ``otel_xray`` configurator sets ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``
(when the user has not) to the detectors of ``opentelemetry-sdk-extension-aws``
that this process's platform calls for, so that ``origin`` and the ``aws``
block of every segment are right with no code, as aws-xray-sdk's plugins make
them. The SDK then runs them, merged under ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_SERVICE_NAME`` as usual.

A detector is chosen only on a sign that needs no network (an environment
variable or a local file), so that start-up never waits on a metadata endpoint
that is not there:

=================  ==========================================================  ==========================
platform           sign                                                        detector
=================  ==========================================================  ==========================
ECS (EC2/Fargate)  ``ECS_CONTAINER_METADATA_URI_V4`` or ``..._URI``            ``aws_ecs`` (task metadata)
EKS                ``KUBERNETES_SERVICE_HOST`` and a service-account token      ``aws_eks`` (Kubernetes API)
EC2                DMI/hypervisor files naming EC2 (not in ECS or Kubernetes,   ``aws_ec2`` (IMDSv2; 1 s
                   not with ``AWS_EC2_METADATA_DISABLED=true``)                 token timeout)
Elastic Beanstalk  ``/var/elasticbeanstalk/xray/environment.conf``              ``aws_elastic_beanstalk``
Lambda             ``AWS_LAMBDA_FUNCTION_NAME``                                 none: the configurator's own
                                                                                Lambda resource
=================  ==========================================================  ==========================

In Lambda the extension's ``aws_lambda`` detector finds nothing that
:func:`otel_xray.aws_lambda.lambda_resource_attributes` does not already set
(which adds the service name and log group), and loading it would cost cold
start a scan of every installed package's entry points.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import MutableMapping, Optional, Sequence, Tuple

from .config import OTEL_EXPERIMENTAL_RESOURCE_DETECTORS, ComputeEnvironment, compute_environment

__all__ = [
    "EC2",
    "ECS",
    "EKS",
    "ELASTIC_BEANSTALK",
    "aws_detectors",
    "apply_default_detectors",
]

EC2 = "aws_ec2"
ECS = "aws_ecs"
EKS = "aws_eks"
ELASTIC_BEANSTALK = "aws_elastic_beanstalk"

# The file the Beanstalk platform writes (read by the extension's detector too).
BEANSTALK_CONFIG = (
    "C:\\Program Files\\Amazon\\XRay\\environment.conf" if os.name == "nt" else "/var/elasticbeanstalk/xray/environment.conf"
)
KUBERNETES_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# Files in which an EC2 instance names itself, readable without privileges: (path, text it starts with).
# Nitro instances carry DMI data; older Xen ones a hypervisor UUID starting with "ec2".
EC2_SIGNS: Sequence[Tuple[str, str]] = (
    ("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2"),
    ("/sys/devices/virtual/dmi/id/board_asset_tag", "i-"),
    ("/sys/hypervisor/uuid", "ec2"),
)
_EXTENSION = "opentelemetry.sdk.extension.aws"

_logger = logging.getLogger(__name__)


def aws_detectors(environment: Optional[ComputeEnvironment] = None) -> Tuple[str, ...]:
    """The extension's detectors for the platform this process runs on, in merge order (last wins)."""
    env = compute_environment() if environment is None else environment
    if env.lambda_function:
        return ()
    found = []
    if env.ecs:
        found.append(ECS)
    elif env.kubernetes and os.path.exists(KUBERNETES_TOKEN):
        found.append(EKS)
    elif not env.ec2_metadata_disabled and _on_ec2():
        # Not inside ECS or Kubernetes: a task or pod may not reach the instance's metadata service.
        found.append(EC2)
    if os.path.exists(BEANSTALK_CONFIG):
        found.append(ELASTIC_BEANSTALK)  # after EC2, so that the environment is the origin
    return tuple(found)


def apply_default_detectors(environ: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """Set ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` to :func:`aws_detectors` unless the user set it.

    Returns the value set, or None when nothing was set (the user's choice
    stands, no AWS platform shows, or the extension is not installed).
    """
    env = os.environ if environ is None else environ
    platform = compute_environment(env)
    if platform.resource_detectors is not None:
        return None
    names = aws_detectors(platform)
    if not names:
        return None
    if not _extension_installed():
        _logger.warning(
            "otel-xray: this process runs on %s, but opentelemetry-sdk-extension-aws is not installed, so segments "
            "get no origin or aws block; install otel-xray[instrument]",
            " and ".join(names),
        )
        return None
    value = ",".join(names)
    env[OTEL_EXPERIMENTAL_RESOURCE_DETECTORS] = value
    return value


def _extension_installed() -> bool:
    try:
        return importlib.util.find_spec(_EXTENSION) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _on_ec2() -> bool:
    for path, prefix in EC2_SIGNS:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                if handle.read(64).strip().startswith(prefix):
                    return True
        except OSError:
            continue
    return False
