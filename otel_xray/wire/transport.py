"""What the exporter needs from a transport: the contract UDP and the X-Ray API both meet. Internal.

The exporter translates, assembles and encodes; a transport only moves encoded
segment documents. Two properties hold for every transport, because the
exporter runs on the application's threads:

- ``send`` never raises and never waits on the network (a UDP ``send`` on a
  non-blocking socket, or putting the document on a bounded queue that a
  background thread drains);
- every span handed over is eventually either delivered or counted as lost,
  by cause: synchronously, as ``send``'s return value, or later, through
  ``take_losses`` (an ICMP refusal reported on the next datagram, an API call
  that failed after its retries, ``UnprocessedTraceSegments``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..config import ExporterSettings


@runtime_checkable
class Transport(Protocol):
    """Moves encoded X-Ray segment documents to X-Ray."""

    #: ``"udp"`` or ``"api"``: names the transport in logs and stats.
    name: str
    #: The largest document body (UTF-8 JSON, no daemon header) this transport may be given.
    max_document_bytes: int
    #: A short description of the last failure, for the exporter's loss WARNING.
    last_error: Optional[str]

    def describe(self) -> str:
        """Where documents go, for log messages (``udp 127.0.0.1:2000``, ``api https://xray...``)."""
        ...

    def send(self, document: bytes, spans: int) -> Optional[str]:
        """Hand over one encoded document that carries ``spans`` spans.

        Returns ``None`` when the document was sent or accepted for sending,
        else a short cause name (the caller counts ``spans`` as lost to it).
        Never raises, never blocks on the network.
        """
        ...

    def take_losses(self) -> Mapping[str, int]:
        """Spans lost since the last call, by cause, that ``send`` could not report when it returned."""
        ...

    def force_flush(self, timeout_seconds: float) -> bool:
        """Wait, at most ``timeout_seconds``, until everything handed over has left; ``True`` if it did."""
        ...

    def shutdown(self, timeout_seconds: float) -> None:
        """Flush within ``timeout_seconds``, then release sockets and threads; later sends fail as ``closed``."""
        ...


def create_transport(settings: "ExporterSettings") -> Transport:
    """The transport ``settings.transport`` names, set up from the other settings."""
    chosen = settings.transport
    if chosen is None or chosen.transport == "udp":
        from .udp import UdpTransport

        return UdpTransport(*settings.daemon.udp)
    if chosen.transport == "api":
        try:
            from .xray_api import XRayApiTransport
        except ImportError as exc:  # botocore is the `api` extra
            raise ValueError(
                f"the 'api' transport needs botocore ({exc}); pip install 'otel-xray[api]'"
            ) from exc
        return XRayApiTransport.from_settings(chosen)
    raise ValueError(f"transport {chosen.transport!r} is not available; use 'udp' or 'api'")
