"""AWS resource detection, on by default under ``opentelemetry-instrument``, chosen from what the host shows.

The ``otel_xray`` configurator runs the detectors of
``opentelemetry-sdk-extension-aws`` that this process's platform calls for (unless
the user has set ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``), so that ``origin`` and
the ``aws`` block of every segment are right with no code, as aws-xray-sdk's
plugins make them. What they find lies under ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_SERVICE_NAME``, which still win. The configurator merges the result
itself, in a fixed order, rather than naming the detectors in
``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``: older SDKs (1.41, the newest that
Python 3.9 gets, among them) merge those in no particular order, so a detector's
``service.name`` could beat ``OTEL_SERVICE_NAME``.

A detector is chosen only on a sign that needs no network (an environment
variable or a local file), so that start-up never waits on a metadata endpoint
that is not there:

=================  ==========================================================  ==========================
platform           sign                                                        detector
=================  ==========================================================  ==========================
ECS (EC2/Fargate)  ``ECS_CONTAINER_METADATA_URI_V4`` or ``..._URI``            ``aws_ecs`` (task metadata)
EKS                ``KUBERNETES_SERVICE_HOST``, a service-account token and    ``aws_eks`` (Kubernetes API)
                   the EC2 files below
EC2                DMI/hypervisor files naming EC2 (not in ECS or Kubernetes,   ``aws_ec2`` (IMDSv2; 1 s
                   not with ``AWS_EC2_METADATA_DISABLED=true``)                 token timeout)
Elastic Beanstalk  ``/var/elasticbeanstalk/xray/environment.conf``              ``aws_elastic_beanstalk``
Lambda             ``AWS_LAMBDA_FUNCTION_NAME``                                 none: the configurator's own
                                                                                Lambda resource
=================  ==========================================================  ==========================

In Lambda the extension's ``aws_lambda`` detector finds nothing that
:func:`otel_xray.aws_lambda.lambda_resource_attributes` does not already set
(which adds the service name and log group), and loading it would cost cold
start the import of the semantic-conventions module it uses.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .config import ComputeEnvironment, compute_environment

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
_EXTENSION = "opentelemetry.sdk.extension.aws.resource"
# Each detector's class in the extension (the same classes its entry points name).
_DETECTOR_CLASSES = {
    EC2: "AwsEc2ResourceDetector",
    ECS: "AwsEcsResourceDetector",
    EKS: "AwsEksResourceDetector",
    ELASTIC_BEANSTALK: "AwsBeanstalkResourceDetector",
}
# Seconds the SDK waits for each detector (the EC2 one gives up on the token after 1 s itself).
DETECTOR_TIMEOUT = 5

_logger = logging.getLogger(__name__)


def aws_detectors(environment: Optional[ComputeEnvironment] = None) -> Tuple[str, ...]:
    """The extension's detectors for the platform this process runs on, in merge order (last wins)."""
    env = compute_environment() if environment is None else environment
    if env.lambda_function:
        return ()
    found = []
    on_ec2 = _on_ec2()
    if env.ecs:
        found.append(ECS)
    elif env.kubernetes:
        # A pod on EC2 nodes with a service-account token to ask the API with; elsewhere (another
        # cloud, a laptop's cluster) the detector would only fail, with a WARNING, on every start.
        if on_ec2 and os.path.exists(KUBERNETES_TOKEN):
            found.append(EKS)
    elif on_ec2 and not env.ec2_metadata_disabled:
        # Not inside ECS or Kubernetes: a task or pod may not reach the instance's metadata service.
        found.append(EC2)
    if os.path.exists(BEANSTALK_CONFIG):
        found.append(ELASTIC_BEANSTALK)  # after EC2, so that the environment is the origin
    return tuple(found)


def aws_resource_attributes(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """What the AWS detectors for this platform find, with the user's ``OTEL_*`` resource settings on top.

    Empty when the user has set ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` (the SDK
    runs those), when no AWS platform shows, or when the extension is missing (one
    WARNING then names the extra). Meant as the lowest layer of the configurator's
    ``resource_attributes``, which the SDK merges over its own detectors.
    """
    platform = compute_environment(environ)
    if platform.resource_detectors is not None:
        return {}
    names = aws_detectors(platform)
    if not names:
        return {}
    try:
        module = importlib.import_module(_EXTENSION)
        detectors = [getattr(module, _DETECTOR_CLASSES[name])() for name in names]
    except (ImportError, AttributeError):
        _logger.warning(
            "otel-xray: this process runs on %s, but opentelemetry-sdk-extension-aws is not installed, so segments "
            "get no origin or aws block; install otel-xray[instrument]",
            " and ".join(names),
        )
        return {}
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource, get_aggregated_resources

    # Later detectors win (the Beanstalk environment over the EC2 instance); OTEL_* over all of them.
    detected = get_aggregated_resources(detectors, Resource({}), timeout=DETECTOR_TIMEOUT)
    _logger.debug("otel-xray: AWS resource detectors %s found %s", ",".join(names), dict(detected.attributes))
    return dict(detected.merge(OTELResourceDetector().detect()).attributes)


def _on_ec2() -> bool:
    for path, prefix in EC2_SIGNS:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                if handle.read(64).strip().startswith(prefix):
                    return True
        except OSError:
            continue
    return False
