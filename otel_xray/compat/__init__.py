"""aws-xray-sdk's API on OpenTelemetry: change one import, keep the code.

::

    # from aws_xray_sdk.core import xray_recorder, patch_all
    from otel_xray.compat import xray_recorder, patch_all

    xray_recorder.configure(service="checkout")
    patch_all()

    @xray_recorder.capture("load_order")
    def load_order(order_id):
        xray_recorder.current_subsegment().put_annotation("order_id", order_id)

Segments and subsegments are OpenTelemetry spans, sent by this package's X-Ray
exporter (or by whatever OpenTelemetry set-up the process already has). See
docs/migrating-from-aws-xray-sdk.md for what maps, what does not, and why.
"""

from .entities import DummySegment, DummySubsegment, Entity, FacadeSegment, Segment, Subsegment
from .exceptions import (
    AlreadyEndedException,
    FacadeSegmentMutationException,
    InvalidDaemonAddressException,
    InvalidSamplingManifestError,
    MissingPluginNames,
    SegmentNameMissingException,
    SegmentNotFoundException,
    SubsegmentNameMissingException,
)
from .patcher import patch, patch_all
from .recorder import AsyncAWSXRayRecorder, AsyncContext, AWSXRayRecorder, Context
from .sdk_config import SDKConfig, global_sdk_config

xray_recorder = AWSXRayRecorder()

__all__ = [
    "xray_recorder",
    "patch",
    "patch_all",
    "AWSXRayRecorder",
    "AsyncAWSXRayRecorder",
    "Context",
    "AsyncContext",
    "SDKConfig",
    "global_sdk_config",
    "Entity",
    "Segment",
    "Subsegment",
    "DummySegment",
    "DummySubsegment",
    "FacadeSegment",
    "AlreadyEndedException",
    "FacadeSegmentMutationException",
    "InvalidDaemonAddressException",
    "InvalidSamplingManifestError",
    "MissingPluginNames",
    "SegmentNameMissingException",
    "SegmentNotFoundException",
    "SubsegmentNameMissingException",
]
