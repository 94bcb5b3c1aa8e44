"""The ``aws`` block: per-call fields from the span, and the resource's blocks (docs/mapping.md, "aws").

The resource part depends only on the resource and is built once per
resource (see ``resource.py``); it goes on segments only. The per-call part
comes from one table, :data:`CALL_FIELDS`: each field from the first of its
attribute keys that holds a value, the current semantic-convention names
read as well as the old ones (``cloud.region``, which the botocore
instrumentation sets on its spans, fills ``region``). Differences from the
Collector: resource blocks omit missing members where the Collector writes
``null`` (the published schema types them as strings, so ``null`` fails it),
and every key that fills a field is consumed.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

from ..document import Aws, XRaySdk
from ..values import clean_str
from ._attr import text

__all__ = [
    "resource_aws_block",
    "add_call_fields_planned",
    "call_plan",
    "CallPlan",
    "CALL_FIELDS",
    "CALL_KEYS",
]

# The one table of this chain: aws field -> attribute keys, first non-empty string wins.
CALL_FIELDS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("account_id", ("aws.account_id",)),
    ("operation", ("aws.operation", "rpc.method")),
    ("region", ("aws.region", "cloud.region")),
    ("request_id", ("aws.request_id", "aws.requestId")),
    ("id_2", ("aws.extended_request_id",)),
    # messaging.url wins over the queue URL attributes, as in the Collector.
    ("queue_url", ("messaging.url", "aws.queue_url", "aws.queue.url", "aws.sqs.queue.url")),
    ("table_name", ("aws.table_name", "aws.table.name")),
    ("topic_arn", ("aws.sns.topic.arn",)),
    # As the X-Ray SDKs record S3 calls.
    ("bucket_name", ("aws.s3.bucket",)),
    ("key", ("aws.s3.key",)),
)
_TABLE_NAMES = "aws.dynamodb.table_names"
# Derived from the table: a span with none of these keys is not an AWS call and consumes nothing.
CALL_KEYS = frozenset(key for _, keys in CALL_FIELDS for key in keys) | {_TABLE_NAMES}


def _sdk_name(resource: Mapping[str, Any]) -> str:
    name = text(resource, "telemetry.sdk.name")
    language = text(resource, "telemetry.sdk.language")
    return f"{name} for {language}" if name and language else name


def _log_groups(resource: Mapping[str, Any], used: Set[str]) -> List[Dict[str, str]]:
    def entries(value: Any) -> List[str]:
        if type(value) is str:
            return [item for item in value.split("&") if item]
        if isinstance(value, (list, tuple)):
            return [item for item in value if type(item) is str and item]
        return []

    arns = entries(resource.get("aws.log.group.arns"))
    if arns:
        used.add("aws.log.group.arns")
        groups = []
        for arn in arns:
            parts = arn.split(":")
            groups.append({"log_group": clean_str(parts[6] if len(parts) > 6 else ""), "arn": clean_str(arn)})
        return groups
    names = entries(resource.get("aws.log.group.names"))
    if names:
        used.add("aws.log.group.names")
    return [{"log_group": clean_str(name)} for name in names]


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


def _fields(resource: Mapping[str, Any], fields: Mapping[str, str], used: Set[str]) -> Dict[str, str]:
    """The members whose attributes are present (the Collector writes null for the others)."""
    block: Dict[str, str] = {}
    for member, key in fields.items():
        value = text(resource, key)
        if value:
            block[member] = clean_str(value)
            used.add(key)
    return block


def resource_aws_block(resource: Mapping[str, Any], used: Optional[Set[str]] = None) -> Optional[Aws]:
    """The resource-derived part of ``aws``, or ``None`` when ``cloud.provider`` is not AWS.

    ``used`` receives the resource keys whose values the block carries.
    """
    used = set() if used is None else used
    provider = resource.get("cloud.provider")
    if provider is not None and provider != "aws":
        return None
    platform = resource.get("cloud.platform")
    block: Aws = {}
    account = text(resource, "cloud.account.id")
    if account:
        block["account_id"] = clean_str(account)
        used.add("cloud.account.id")

    if platform == "aws_ec2" or text(resource, "host.id"):
        block["ec2"] = _fields(resource, _EC2_FIELDS, used)
    if platform == "aws_ecs":
        block["ecs"] = _fields(resource, _ECS_FIELDS, used)
    instance_id = resource.get("service.instance.id")
    if platform == "aws_elastic_beanstalk" and instance_id not in (None, ""):
        beanstalk: Dict[str, Any] = dict(_fields(resource, _BEANSTALK_FIELDS, used))
        if type(instance_id) is int:
            # opentelemetry-sdk-extension-aws passes the environment file's number through as an int.
            beanstalk["deployment_id"] = instance_id
        else:
            number = text(resource, "service.instance.id")
            beanstalk["deployment_id"] = int(number) if number.isascii() and number.isdigit() else 0
        used.add("service.instance.id")
        block["elastic_beanstalk"] = beanstalk
    if platform == "aws_eks" or text(resource, "k8s.cluster.name"):
        block["eks"] = _fields(resource, _EKS_FIELDS, used)

    groups = _log_groups(resource, used)
    if groups:
        block["cloudwatch_logs"] = groups

    xray: XRaySdk = {}
    sdk = _sdk_name(resource)
    if sdk:
        xray["sdk"] = clean_str(sdk)
        used.update(("telemetry.sdk.name", "telemetry.sdk.language"))
    version = text(resource, "telemetry.sdk.version")
    if version:
        xray["sdk_version"] = clean_str(version)
        used.add("telemetry.sdk.version")
    for key in ("telemetry.auto.version", "telemetry.distro.version"):
        if text(resource, key):
            used.add(key)
    # Written when true only (absent means false to X-Ray), as the X-Ray SDKs write their flags.
    if text(resource, "telemetry.auto.version") or text(resource, "telemetry.distro.version"):
        xray["auto_instrumentation"] = True
    block["xray"] = xray
    return block


class CallPlan(NamedTuple):
    """The call keys a span has: consumed as they are, each field's keys in the table's order, the table names."""

    keys: Tuple[str, ...]
    fields: Tuple[Tuple[str, Tuple[str, ...]], ...]
    table_names: bool


def call_plan(keys: AbstractSet[str]) -> Optional[CallPlan]:
    """:data:`CALL_FIELDS` restricted to the keys present, or ``None`` when the span is not an AWS call."""
    present = tuple(key for key in sorted(CALL_KEYS) if key in keys)
    if not present:
        return None
    fields = []
    for field, field_keys in CALL_FIELDS:
        found = tuple(key for key in field_keys if key in keys)
        if found:
            fields.append((field, found))
    return CallPlan(present, tuple(fields), _TABLE_NAMES in keys)


def add_call_fields_planned(plan: CallPlan, block: Aws, attributes: Mapping[str, Any], consumed: Set[str]) -> None:
    """The per-call fields by a :func:`call_plan` for the span's keys (every key of the plan present)."""
    consumed.update(plan.keys)
    fields: Dict[str, Any] = block  # type: ignore[assignment]  # members come from the table
    for field, keys in plan.fields:
        for key in keys:  # the first non-empty string wins
            value = attributes[key]
            if type(value) is str and value:
                fields[field] = value if value.isascii() else clean_str(value)
                break
    if plan.table_names:
        tables = attributes[_TABLE_NAMES]
        if isinstance(tables, (list, tuple)):
            names = [clean_str(t) for t in tables if type(t) is str]
            if len(names) == 1:
                block["table_name"] = names[0]
            elif len(names) > 1:
                block["table_names"] = names
                block.pop("table_name", None)
        elif type(tables) is str and tables:
            block["table_name"] = clean_str(tables)
