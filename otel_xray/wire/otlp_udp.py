"""OTLP over UDP: the framing Lambda's X-Ray endpoint accepts (as the AWS distro for OpenTelemetry sends it). Internal.

A datagram is the daemon's header line, ``\\n``, a prefix (``T1S`` for sampled
spans, ``T1U`` for unsampled ones), and the standard base64 of a serialized
OTLP ``ExportTraceServiceRequest``. The encoding is
``opentelemetry-exporter-otlp-proto-common``'s, imported only when this mode
is used, so JSON mode never loads protobuf.

Unlike the distro, which sends one export call as one datagram unchecked,
batches are split until every datagram fits: at most 49,104 protobuf bytes,
which base64 turns into 65,472, plus 33 bytes of header and prefix.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .framing import HEADER, MAX_UDP_PAYLOAD_IPV4

_logger = logging.getLogger(__name__)

SAMPLED_PREFIX = b"T1S"
UNSAMPLED_PREFIX = b"T1U"
MAX_PROTOBUF_BYTES = (MAX_UDP_PAYLOAD_IPV4 - len(HEADER) - len(SAMPLED_PREFIX)) // 4 * 3


def load_encoder() -> Callable[[Sequence[Any]], Any]:
    """``encode_spans``, or a clear error naming the missing package (a core dependency)."""
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    except ImportError as exc:
        raise ValueError(
            "the 'otlp' protocol needs opentelemetry-exporter-otlp-proto-common, which otel-xray depends on; "
            "reinstall otel-xray or pip install opentelemetry-exporter-otlp-proto-common"
        ) from exc
    return encode_spans


def _split(
    encode: Callable[[Sequence[Any]], Any],
    spans: List[Any],
    limit: int,
    out: List[Tuple[bytes, int]],
    too_large: List[Any],
) -> None:
    payload = encode(spans).SerializeToString()
    if len(payload) <= limit:
        out.append((payload, len(spans)))
    elif len(spans) == 1:
        too_large.append(spans[0])
    else:
        middle = len(spans) // 2
        _split(encode, spans[:middle], limit, out, too_large)
        _split(encode, spans[middle:], limit, out, too_large)


def encode_otlp_datagrams(
    encode: Callable[[Sequence[Any]], Any], spans: Sequence[Any], limit: int = MAX_PROTOBUF_BYTES
) -> Tuple[List[Tuple[bytes, int]], List[Any]]:
    """``([(datagram, spans in it)], spans too large for any datagram)``; sampled and unsampled apart."""
    groups: Dict[bytes, List[Any]] = {SAMPLED_PREFIX: [], UNSAMPLED_PREFIX: []}
    for span in spans:
        groups[SAMPLED_PREFIX if span.context.trace_flags.sampled else UNSAMPLED_PREFIX].append(span)
    datagrams: List[Tuple[bytes, int]] = []
    too_large: List[Any] = []
    for prefix, group in groups.items():
        if group:
            payloads: List[Tuple[bytes, int]] = []
            _split(encode, group, limit, payloads, too_large)
            datagrams.extend((HEADER + prefix + base64.b64encode(payload), count) for payload, count in payloads)
    return datagrams, too_large


OUTSIDE_LAMBDA_WARNING = (
    "otel-xray: protocol 'otlp' (OTEL_EXPORTER_XRAY_PROTOCOL=otlp) outside AWS Lambda: only Lambda's X-Ray "
    "endpoint accepts OTLP datagrams. The X-Ray daemon (v3.6.6 and earlier) has no OTLP handling: it forwards "
    "each T1S/T1U datagram to PutTraceSegments as if it were a segment document, which is not JSON, so X-Ray "
    "refuses it and every span is lost, with no error in this process. Use protocol 'json' (the default) with a daemon or agent, or the 'api' transport "
    "where none runs. (The otel-xray local daemon decodes OTLP datagrams, for tests.)"
)


def warn_if_outside_lambda(protocol: str, lambda_mode: bool, logger: Optional[logging.Logger] = None) -> bool:
    """Log :data:`OUTSIDE_LAMBDA_WARNING` once if ``protocol`` is ``otlp`` and the process is not in Lambda.

    Called once when an exporter is set up, with its resolved settings
    (``ExporterSettings.protocol`` and ``.lambda_mode``); returns whether it warned.
    """
    if str(protocol).lower() != "otlp" or lambda_mode:
        return False
    (logger or _logger).warning(OUTSIDE_LAMBDA_WARNING)
    return True
