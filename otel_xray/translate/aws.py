"""The ``aws`` block: per-call fields from the span (R73-R79) and resource blocks (R71, R72, R80-R86).

The resource part depends only on the resource and is built once per
resource (see ``resource.py``); the per-span part is added on a copy.
Difference from the reference: resource blocks omit missing members where
the Collector writes ``null`` (the published schema types them as strings, so
``null`` fails it).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Set

from ..values import clean_str

__all__ = ["resource_aws_block", "add_span_aws_fields", "SPAN_AWS_KEYS"]

# Keys that become aws fields and leave metadata (R90).
SPAN_AWS_KEYS = (
    "rpc.method", "aws.operation", "aws.account_id", "aws.region", "aws.request_id",
    "aws.requestId", "aws.queue_url", "aws.queue.url", "aws.table_name", "aws.table.name",
)


_TRIGGER_KEYS = frozenset(SPAN_AWS_KEYS) | {"messaging.url", "aws.dynamodb.table_names", "aws.s3.bucket", "aws.s3.key"}


def _text(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    return clean_str(value) if type(value) is str else ""


def _present(block: Dict[str, Any], key: str, value: Any) -> None:
    if value not in ("", None):
        block[key] = value


def _sdk_name(resource: Mapping[str, Any]) -> str:
    name = _text(resource, "telemetry.sdk.name")
    language = _text(resource, "telemetry.sdk.language")
    return f"{name} for {language}" if name and language else name


def _log_groups(resource: Mapping[str, Any]) -> List[Dict[str, str]]:
    def entries(value: Any) -> List[str]:
        if type(value) is str:
            return [item for item in value.split("&") if item]
        if isinstance(value, (list, tuple)):
            return [item for item in value if type(item) is str and item]
        return []

    arns = entries(resource.get("aws.log.group.arns"))
    if arns:
        groups = []
        for arn in arns:
            parts = arn.split(":")
            groups.append({"log_group": parts[6] if len(parts) > 6 else "", "arn": arn})
        return groups
    return [{"log_group": name} for name in entries(resource.get("aws.log.group.names"))]


# block member -> resource attribute
_EC2_FIELDS = {
    "instance_id": "host.id",
    "availability_zone": "cloud.availability_zone",
    "instance_size": "host.type",
    "ami_id": "host.image.id",
}
_ECS_FIELDS = {
    "container": "container.name",
    "container_id": "container.id",
    "availability_zone": "cloud.availability_zone",
    "task_arn": "aws.ecs.task.arn",
    "task_family": "aws.ecs.task.family",
    "cluster_arn": "aws.ecs.cluster.arn",
    "container_arn": "aws.ecs.container.arn",
    "launch_type": "aws.ecs.launchtype",
}
_BEANSTALK_FIELDS = {"environment_name": "service.namespace", "version_label": "service.version"}
_EKS_FIELDS = {"cluster_name": "k8s.cluster.name", "pod": "k8s.pod.name", "container_id": "container.id"}


def _fields(resource: Mapping[str, Any], fields: Mapping[str, str]) -> Dict[str, Any]:
    """The members whose attributes are present (the reference writes null for the others)."""
    block: Dict[str, Any] = {}
    for member, key in fields.items():
        _present(block, member, _text(resource, key))
    return block


def resource_aws_block(resource: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The resource-derived part of ``aws``, or ``None`` when ``cloud.provider`` is not AWS."""
    provider = resource.get("cloud.provider")
    if provider is not None and provider != "aws":
        return None
    platform = resource.get("cloud.platform")
    block: Dict[str, Any] = {}
    _present(block, "account_id", _text(resource, "cloud.account.id"))

    host_id = _text(resource, "host.id")
    if platform == "aws_ec2" or host_id:
        block["ec2"] = _fields(resource, _EC2_FIELDS)
    if platform == "aws_ecs":
        block["ecs"] = _fields(resource, _ECS_FIELDS)
    instance_id = resource.get("service.instance.id")
    if platform == "aws_elastic_beanstalk" and instance_id not in (None, ""):
        beanstalk = _fields(resource, _BEANSTALK_FIELDS)
        # opentelemetry-sdk-extension-aws passes the environment file's number through as an int.
        if type(instance_id) is int:
            beanstalk["deployment_id"] = instance_id
        else:
            text = _text(resource, "service.instance.id")
            beanstalk["deployment_id"] = int(text) if text.isdigit() else 0
        block["elastic_beanstalk"] = beanstalk
    if platform == "aws_eks" or _text(resource, "k8s.cluster.name"):
        block["eks"] = _fields(resource, _EKS_FIELDS)

    groups = _log_groups(resource)
    if groups:
        block["cloudwatch_logs"] = groups

    xray: Dict[str, Any] = {}
    _present(xray, "sdk", _sdk_name(resource))
    _present(xray, "sdk_version", _text(resource, "telemetry.sdk.version"))
    xray["auto_instrumentation"] = bool(
        _text(resource, "telemetry.auto.version") or _text(resource, "telemetry.distro.version")
    )
    block["xray"] = xray
    return block


def add_span_aws_fields(block: Dict[str, Any], attributes: Mapping[str, Any], consumed: Set[str]) -> None:
    """Add the per-call fields of an AWS SDK span to ``block`` (a copy of the resource block)."""
    if _TRIGGER_KEYS.isdisjoint(attributes):
        return  # the common case: not an AWS call
    consumed.update(key for key in SPAN_AWS_KEYS if key in attributes)
    get = attributes.get

    account = get("aws.account_id")
    if type(account) is str and account:
        block["account_id"] = clean_str(account)
    _present(block, "operation", _text(attributes, "aws.operation") or _text(attributes, "rpc.method"))
    _present(block, "region", _text(attributes, "aws.region"))
    _present(block, "request_id", _text(attributes, "aws.request_id") or _text(attributes, "aws.requestId"))
    _present(
        block,
        "queue_url",
        _text(attributes, "messaging.url") or _text(attributes, "aws.queue_url") or _text(attributes, "aws.queue.url"),
    )
    table = _text(attributes, "aws.table_name") or _text(attributes, "aws.table.name")
    tables = get("aws.dynamodb.table_names")
    if isinstance(tables, (list, tuple)):
        names = [clean_str(t) for t in tables if type(t) is str]
        if len(names) == 1:
            table = names[0]
        elif len(names) > 1:
            block["table_names"] = names
            table = ""
    elif type(tables) is str and tables:
        table = clean_str(tables)
    _present(block, "table_name", table)
    # Beyond the reference: S3 fields as the X-Ray SDKs record them (also kept in metadata).
    _present(block, "bucket_name", _text(attributes, "aws.s3.bucket"))
    _present(block, "key", _text(attributes, "aws.s3.key"))
