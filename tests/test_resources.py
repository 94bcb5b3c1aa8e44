"""AWS resource detection by default: detectors chosen from what the host shows, run against loopback fakes.

Selection is tested on its own (table-driven, with the files it looks at
replaced by temporary ones); then the real distro and configurator
(``opentelemetry.instrumentation.auto_instrumentation.initialize()``, what
``opentelemetry-instrument`` runs at start-up) run in a subprocess whose
metadata endpoints are loopback fakes: the ECS task metadata endpoint comes from
the environment; the EC2 instance metadata host, the Kubernetes API and the
Elastic Beanstalk file are fixed in opentelemetry-sdk-extension-aws, so the
subprocess points those module constants (or its request function) at the
fakes before start-up. No test contacts 169.254.169.254 or a cluster: every
connection the subprocess makes is recorded by an audit hook and checked.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from otel_xray import resources
from otel_xray.config import ComputeEnvironment, compute_environment
from otel_xray.daemon.server import LocalDaemon

pytest.importorskip("opentelemetry.sdk.extension.aws", reason="opentelemetry-sdk-extension-aws comes with the extras")

# ------------------------------------------------------------------ reading the environment
@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, ComputeEnvironment(None, False, False, False, False)),
        ({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": " aws_ec2 "}, ComputeEnvironment("aws_ec2", False, False, False, False)),
        ({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "  "}, ComputeEnvironment(None, False, False, False, False)),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, ComputeEnvironment(None, True, False, False, False)),
        ({"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}, ComputeEnvironment(None, False, True, False, False)),
        ({"ECS_CONTAINER_METADATA_URI": "http://169.254.170.2/v3/x"}, ComputeEnvironment(None, False, True, False, False)),
        ({"KUBERNETES_SERVICE_HOST": "10.100.0.1"}, ComputeEnvironment(None, False, False, True, False)),
        ({"AWS_EC2_METADATA_DISABLED": "TRUE"}, ComputeEnvironment(None, False, False, False, True)),
        ({"AWS_EC2_METADATA_DISABLED": "yes"}, ComputeEnvironment(None, False, False, False, False)),  # botocore: only "true"
    ],
)
def test_compute_environment_reads_the_platform_variables(environ, expected):
    assert compute_environment(environ) == expected


# ------------------------------------------------------------------ choosing detectors
@pytest.fixture
def host(tmp_path, monkeypatch) -> Callable[..., None]:
    """Point the files selection looks at to temporary ones; ``host(ec2=..., beanstalk=..., token=...)`` creates them."""
    signs = [(str(tmp_path / "sys_vendor"), "Amazon EC2"), (str(tmp_path / "board_asset_tag"), "i-"), (str(tmp_path / "hypervisor_uuid"), "ec2")]
    monkeypatch.setattr(resources, "EC2_SIGNS", signs)
    monkeypatch.setattr(resources, "BEANSTALK_CONFIG", str(tmp_path / "environment.conf"))
    monkeypatch.setattr(resources, "KUBERNETES_TOKEN", str(tmp_path / "token"))

    def make(ec2: Optional[Tuple[str, str]] = None, beanstalk: bool = False, token: bool = False) -> None:
        if ec2 is not None:
            name, text = ec2
            (tmp_path / name).write_text(text + "\n")
        if beanstalk:
            (tmp_path / "environment.conf").write_text("{}")
        if token:
            (tmp_path / "token").write_text("t")

    return make


NITRO = ("sys_vendor", "Amazon EC2")


@pytest.mark.parametrize(
    "environ, files, expected",
    [
        ({}, {}, ()),
        ({}, {"ec2": ("sys_vendor", "QEMU")}, ()),  # a virtual machine that is not EC2
        ({}, {"ec2": NITRO}, ("aws_ec2",)),
        ({}, {"ec2": ("board_asset_tag", "i-0123456789abcdef0")}, ("aws_ec2",)),
        ({}, {"ec2": ("hypervisor_uuid", "ec2e1916-9099-7caf-fd21-012345abcdef")}, ("aws_ec2",)),  # Xen
        ({"AWS_EC2_METADATA_DISABLED": "true"}, {"ec2": NITRO}, ()),
        ({"ECS_CONTAINER_METADATA_URI_V4": "http://x"}, {}, ("aws_ecs",)),
        ({"ECS_CONTAINER_METADATA_URI_V4": "http://x"}, {"ec2": NITRO}, ("aws_ecs",)),  # ECS on EC2: not the instance's IMDS
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {"token": True, "ec2": NITRO}, ("aws_eks",)),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {"token": True}, ()),  # a cluster that does not run on EC2
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {"ec2": NITRO}, ()),  # no service-account token: nothing to ask the API with
        ({}, {"beanstalk": True, "ec2": NITRO}, ("aws_ec2", "aws_elastic_beanstalk")),  # the environment names the origin
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, {"ec2": NITRO}, ()),  # Lambda: the configurator's own Lambda resource
    ],
)
def test_detectors_are_chosen_from_what_the_host_shows(host, environ, files, expected):
    host(**files)
    assert resources.aws_detectors(compute_environment(environ)) == expected


def test_nothing_is_detected_when_the_user_chose_detectors_or_no_platform_shows(host):
    host(ec2=NITRO)
    # the user's choice stands, and the SDK runs it: nothing here, not even the EC2 probe
    assert resources.aws_resource_attributes({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel", "AWS_EC2_METADATA_DISABLED": "false"}) == {}
    host(ec2=("sys_vendor", "innotek GmbH"))
    assert resources.aws_resource_attributes({}) == {}


def test_without_the_extension_one_warning_says_what_is_missing(host, monkeypatch, caplog):
    host(ec2=NITRO)
    monkeypatch.setattr(resources, "_EXTENSION", "opentelemetry.sdk.extension.not_installed_here")
    assert resources.aws_resource_attributes({}) == {}
    (record,) = [r for r in caplog.records if r.name == "otel_xray.resources"]
    assert record.levelname == "WARNING" and "otel-xray[instrument]" in record.getMessage() and "aws_ec2" in record.getMessage()


# ------------------------------------------------------------------ loopback fakes of the metadata endpoints
Route = Tuple[int, str]


class FakeEndpoint:
    """An HTTP server on loopback answering fixed routes; ``require`` maps a path to a header it must carry."""

    def __init__(self, routes: Dict[Tuple[str, str], Route], require: Optional[Dict[str, Tuple[str, str]]] = None) -> None:
        fake = self
        self.requests: List[Tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.requests.append((self.command, self.path))
                needed = (require or {}).get(self.path)
                if needed is not None and self.headers.get(needed[0]) != needed[1]:
                    status, body = 401, "missing or wrong " + needed[0]
                else:
                    status, body = routes.get((self.command, self.path), (404, "not found"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints() -> Iterator[Callable[..., FakeEndpoint]]:
    started: List[FakeEndpoint] = []

    def start(routes: Dict[Tuple[str, str], Route], require: Optional[Dict[str, Tuple[str, str]]] = None) -> FakeEndpoint:
        started.append(FakeEndpoint(routes, require))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()


IDENTITY = {
    "accountId": "123456789012",
    "availabilityZone": "eu-west-1b",
    "imageId": "ami-0abcdef1234567890",
    "instanceId": "i-0123456789abcdef0",
    "instanceType": "m6g.large",
    "region": "eu-west-1",
}
EC2_TOKEN = "AQAEAFake-imds-token=="


def _imds(start: Callable[..., FakeEndpoint]) -> FakeEndpoint:
    token_header = ("X-aws-ec2-metadata-token", EC2_TOKEN)
    return start(
        {
            ("PUT", "/latest/api/token"): (200, EC2_TOKEN),
            ("GET", "/latest/dynamic/instance-identity/document"): (200, json.dumps(IDENTITY)),
            ("GET", "/latest/meta-data/hostname"): (200, "ip-10-0-1-17.eu-west-1.compute.internal"),
        },
        require={"/latest/dynamic/instance-identity/document": token_header, "/latest/meta-data/hostname": token_header},
    )


# The start-up that opentelemetry-instrument performs (its sitecustomize calls initialize()),
# after pointing the extension's fixed endpoints at the fakes and recording every connection.
_STARTUP = textwrap.dedent(
    """
    import builtins, json, os, sys, types
    probe = json.loads(os.environ.pop("RESOURCE_PROBE"))
    network = []

    def audit(event, args):
        if event == "socket.connect":
            network.append(["connect", str(args[1])])
        elif event == "socket.getaddrinfo":
            network.append(["resolve", str(args[0])])
        elif event == "urllib.Request":
            network.append(["http", str(args[0])])

    sys.addaudithook(audit)

    import otel_xray.resources as selection
    selection.EC2_SIGNS = [tuple(sign) for sign in probe["ec2_signs"]]
    selection.BEANSTALK_CONFIG = probe["beanstalk_config"]
    selection.KUBERNETES_TOKEN = probe["kubernetes_token"]

    from opentelemetry.sdk.extension.aws.resource import beanstalk, ec2, eks
    if probe.get("imds"):
        ec2._AWS_METADATA_HOST = probe["imds"]  # "169.254.169.254" in the extension
    if probe.get("kubernetes_api"):
        from urllib.request import Request, urlopen
        eks._TOKEN_PATH = probe["kubernetes_token"]
        eks._CERT_PATH = probe["kubernetes_ca"]

        def kubernetes_api(method, path, cred_value):  # "https://kubernetes.default.svc" in the extension
            request = Request(probe["kubernetes_api"] + path, headers={"Authorization": cred_value}, method=method)
            with urlopen(request, timeout=5) as response:
                return response.read().decode("utf-8")

        eks._aws_http_request = kubernetes_api
    if probe.get("beanstalk_config_contents"):
        # The detector reads a path fixed in its code; give it a temporary file under that name.
        fixed = "/var/elasticbeanstalk/xray/environment.conf"
        real = probe["beanstalk_config"]
        beanstalk.os = types.SimpleNamespace(name=os.name, path=types.SimpleNamespace(exists=lambda p: os.path.exists(real if p == fixed else p)))
        beanstalk.open = lambda p, *a, **k: builtins.open(real if p == fixed else p, *a, **k)

    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize
    except ImportError:  # older instrumentation: the same function, in sitecustomize (which runs it)
        os.environ.setdefault("PYTHONPATH", "")  # which that version's initialize() edits
        import opentelemetry.instrumentation.auto_instrumentation.sitecustomize  # noqa: F401
    else:
        initialize()

    from opentelemetry import trace
    provider = trace.get_tracer_provider()
    with trace.get_tracer("probe").start_as_current_span("GET /", kind=trace.SpanKind.SERVER):
        pass
    provider.shutdown()
    print(json.dumps({"resource": dict(provider.resource.attributes), "network": network}, default=list))
    """
)


def _start_up(daemon: LocalDaemon, tmp_path: pathlib.Path, environ: Dict[str, str], **probe: Any) -> Dict[str, Any]:
    """Run the distro's start-up in a fresh interpreter; its resource, network connections and the segment it sent."""
    vendor = tmp_path / "sys_vendor"
    if not vendor.exists():
        vendor.write_text("QEMU\n")  # a machine that is not EC2, unless a test says so
    probe = {
        "ec2_signs": [[str(vendor), "Amazon EC2"], [str(tmp_path / "no-board-tag"), "i-"], [str(tmp_path / "no-hypervisor"), "ec2"]],
        "beanstalk_config": str(tmp_path / "environment.conf"),
        "kubernetes_token": str(tmp_path / "token"),
        "kubernetes_ca": str(tmp_path / "ca.crt"),
        **probe,
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "AWS_", "ECS_CONTAINER_METADATA", "KUBERNETES_", "_X_AMZN"))
    }
    env.update(
        OTEL_PYTHON_DISTRO="otel_xray",
        OTEL_PYTHON_CONFIGURATOR="otel_xray",
        OTEL_SERVICE_NAME="detected",
        AWS_XRAY_DAEMON_ADDRESS=daemon.endpoint,
        RESOURCE_PROBE=json.dumps(probe),
        **environ,
    )
    result = subprocess.run([sys.executable, "-c", _STARTUP], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["stderr"] = result.stderr
    # Every connection went to loopback: the fakes and the daemon, never a metadata address.
    for kind, target in report["network"]:
        assert "127.0.0.1" in target or target in ("localhost",), (kind, target)
    assert daemon.wait_for(1)
    (report["segment"],) = [d for d in daemon.documents() if d.get("name") == "detected"]
    return report


def test_with_nothing_in_the_environment_start_up_makes_no_network_call(daemon, tmp_path):
    report = _start_up(daemon, tmp_path, {})
    assert "cloud.platform" not in report["resource"]
    # the only connection: the exporter's UDP socket to the daemon (resolved, then connected)
    to_daemon = [["resolve", daemon.address[0]], ["connect", str(daemon.address)]]
    assert [call for call in report["network"] if call not in to_daemon] == []
    assert "origin" not in report["segment"]
    assert set(report["segment"]["aws"]) == {"xray"}


def test_ecs_task_metadata_gives_origin_and_the_ecs_block(daemon, tmp_path, endpoints):
    task_arn = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
    metadata = endpoints(
        {
            ("GET", "/v4/c0ffee"): (200, json.dumps({
                "ContainerARN": "arn:aws:ecs:eu-west-1:123456789012:container/prod/0123456789abcdef0123456789abcdef/1a2b",
                "LogDriver": "awslogs",
                "LogOptions": {"awslogs-group": "/ecs/checkout", "awslogs-region": "eu-west-1", "awslogs-stream": "ecs/checkout/0123"},
            })),
            ("GET", "/v4/c0ffee/task"): (200, json.dumps({
                "TaskARN": task_arn, "Cluster": "prod", "LaunchType": "FARGATE", "Family": "checkout", "Revision": "42",
            })),
        }
    )
    report = _start_up(daemon, tmp_path, {"ECS_CONTAINER_METADATA_URI_V4": metadata.url + "/v4/c0ffee"})
    assert report["resource"]["cloud.platform"] == "aws_ecs"
    assert report["resource"]["service.name"] == "detected"  # OTEL_SERVICE_NAME still wins over detectors
    segment = report["segment"]
    assert segment["origin"] == "AWS::ECS::Fargate"
    assert segment["aws"]["ecs"]["task_arn"] == task_arn
    assert segment["aws"]["ecs"]["cluster_arn"] == "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
    assert segment["aws"]["cloudwatch_logs"][0]["log_group"] == "/ecs/checkout"
    assert ("GET", "/v4/c0ffee/task") in metadata.requests


def test_ec2_instance_metadata_gives_origin_and_the_ec2_block(daemon, tmp_path, endpoints):
    imds = _imds(endpoints)
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    report = _start_up(daemon, tmp_path, {}, imds=imds.url.split("//", 1)[1])
    assert report["resource"]["cloud.platform"] == "aws_ec2"
    segment = report["segment"]
    assert segment["origin"] == "AWS::EC2::Instance"
    assert segment["aws"]["ec2"] == {"instance_id": "i-0123456789abcdef0", "availability_zone": "eu-west-1b", "instance_size": "m6g.large"}
    assert segment["aws"]["account_id"] == "123456789012"
    assert imds.requests[0] == ("PUT", "/latest/api/token")  # IMDSv2


def test_ec2_metadata_disabled_turns_ec2_detection_off(daemon, tmp_path, endpoints):
    imds = _imds(endpoints)
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    report = _start_up(daemon, tmp_path, {"AWS_EC2_METADATA_DISABLED": "true"}, imds=imds.url.split("//", 1)[1])
    assert imds.requests == [] and "cloud.platform" not in report["resource"]
    assert "origin" not in report["segment"]


def test_the_users_detectors_win(daemon, tmp_path, endpoints):
    imds = _imds(endpoints)
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    report = _start_up(daemon, tmp_path, {"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel"}, imds=imds.url.split("//", 1)[1])
    assert imds.requests == [] and "cloud.platform" not in report["resource"]


def test_eks_gives_origin_and_the_eks_block(daemon, tmp_path, endpoints):
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")  # EKS nodes are EC2 instances
    (tmp_path / "token").write_text("service-account-token")
    (tmp_path / "ca.crt").write_text("not used: the fake API is plain HTTP on loopback")
    authorization = ("Authorization", "Bearer service-account-token")
    api = endpoints(
        {
            ("GET", "/api/v1/namespaces/kube-system/configmaps/aws-auth"): (200, json.dumps({"data": {"mapRoles": "[]"}})),
            ("GET", "/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info"): (200, json.dumps({"data": {"cluster.name": "prod-eks"}})),
        },
        require={
            "/api/v1/namespaces/kube-system/configmaps/aws-auth": authorization,
            "/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info": authorization,
        },
    )
    report = _start_up(daemon, tmp_path, {"KUBERNETES_SERVICE_HOST": "10.100.0.1"}, kubernetes_api=api.url)
    assert report["resource"]["cloud.platform"] == "aws_eks"
    segment = report["segment"]
    assert segment["origin"] == "AWS::EKS::Container"
    assert segment["aws"]["eks"]["cluster_name"] == "prod-eks"


def test_elastic_beanstalk_on_ec2_names_the_environment_as_origin(daemon, tmp_path, endpoints):
    imds = _imds(endpoints)
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    config = {"deployment_id": 23, "version_label": "app-1.4.2", "environment_name": "checkout-prod"}
    (tmp_path / "environment.conf").write_text(json.dumps(config))
    report = _start_up(
        daemon, tmp_path, {"OTEL_RESOURCE_ATTRIBUTES": "host.type=m6g.xlarge"}, imds=imds.url.split("//", 1)[1], beanstalk_config_contents=True
    )
    assert report["resource"]["cloud.platform"] == "aws_elastic_beanstalk"
    assert report["resource"]["service.name"] == "detected"  # OTEL_SERVICE_NAME beats the detector's
    segment = report["segment"]
    assert segment["origin"] == "AWS::ElasticBeanstalk::Environment"
    assert segment["aws"]["elastic_beanstalk"] == {"environment_name": "checkout-prod", "version_label": "app-1.4.2", "deployment_id": 23}
    assert segment["aws"]["ec2"]["instance_id"] == "i-0123456789abcdef0"
    assert segment["aws"]["ec2"]["instance_size"] == "m6g.xlarge"  # OTEL_RESOURCE_ATTRIBUTES beats the detector's


@pytest.mark.parametrize("deployment_id", [23, "23"])
def test_beanstalk_deployment_id_from_the_detector_is_a_number_or_text(deployment_id):
    """The extension's Beanstalk detector passes the file's number through as an int (R82 reads text)."""
    from otel_xray.translate.aws import resource_aws_block

    block = resource_aws_block(
        {"cloud.provider": "aws", "cloud.platform": "aws_elastic_beanstalk", "service.instance.id": deployment_id, "service.namespace": "prod"}
    )
    assert block is not None and block["elastic_beanstalk"] == {"environment_name": "prod", "deployment_id": 23}
