"""The translator's settings (docs/mapping.md, "Settings")."""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

__all__ = ["TranslationOptions"]


class TranslationOptions(NamedTuple):
    indexed_attributes: Tuple[str, ...] = ()
    index_all_attributes: bool = False
    # In AWS Lambda the function's segment is recorded by Lambda itself: every
    # span with a parent, SERVER spans included, becomes a subsegment of it.
    lambda_mode: bool = False
    # Keep the query string in http.request.url (OTEL_EXPORTER_XRAY_URL_QUERY=keep).
    keep_url_query: bool = False
    # Python stack paths under it are shown relative to it; None leaves paths as they are.
    working_directory: Optional[str] = None
    # Resource attributes in metadata: () for the default, ("all",), ("none",), or keys to keep as well.
    resource_metadata: Tuple[str, ...] = ()
