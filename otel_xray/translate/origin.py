"""``origin``: the type of AWS resource running the service, from ``cloud.platform`` (docs/mapping.md, "origin")."""

from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = ["origin", "ORIGIN_KEYS"]

_BY_PLATFORM = {
    "aws_app_runner": "AWS::AppRunner::Service",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
    "aws_ec2": "AWS::EC2::Instance",
    # Beyond the Collector (which has no Lambda origin): the origin Lambda's own segments use.
    "aws_lambda": "AWS::Lambda::Function",
}
_ECS_BY_LAUNCH_TYPE = {"ec2": "AWS::ECS::EC2", "fargate": "AWS::ECS::Fargate"}
# The resource keys an origin is made from.
ORIGIN_KEYS = ("cloud.provider", "cloud.platform", "aws.ecs.launchtype")


def origin(resource: Mapping[str, Any]) -> Optional[str]:
    """The X-Ray origin for a resource, or ``None`` when it does not run on a known AWS platform."""
    if not resource:
        return None
    provider = resource.get("cloud.provider")
    if provider is not None and provider != "aws":
        return None
    platform = resource.get("cloud.platform")
    if platform == "aws_ecs":
        launch_type = resource.get("aws.ecs.launchtype")
        return _ECS_BY_LAUNCH_TYPE.get(launch_type if type(launch_type) is str else "", "AWS::ECS::Container")
    return _BY_PLATFORM.get(platform) if type(platform) is str else None
