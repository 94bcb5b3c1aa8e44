"""The local X-Ray console: static pages served from the package, and the operations they call.

Plain HTML, CSS and JavaScript (no build step, nothing fetched from outside),
served on the daemon's TCP address beside the X-Ray API. Every value from a
span is put into the page as text (``textContent``), never as markup, and a
strict Content-Security-Policy allows only this server's own scripts and
styles. The page reads through ``POST`` operations under ``/console/api/``;
``GET`` serves only static files.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any, Dict, Mapping, Optional

from ..daemon.filter_expr import FilterError
from ..daemon.graph import service_graph
from ..daemon.http_api import ApiError, HttpRoutes, Page
from ..daemon.lint import lint
from ..daemon.store import TRACE_COLUMNS, TraceStore
from ..values import json_number

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC_FILES = ("index.html", "app.js", "style.css", "favicon.svg")
# The operations the page calls, each a method of _Console served at /console/api/<name>.
_OPERATIONS = ("status", "traces", "trace", "graph", "lint")
_PAGE_LIMIT = 200


def _static(name: str) -> bytes:
    return resources.files(__name__).joinpath("static", name).read_bytes()


def _number(request: Mapping[str, Any], key: str, default: Optional[float]) -> Optional[float]:
    value = request.get(key, default)
    if value is None:
        return None
    number = json_number(value)
    if number is None:
        raise ApiError(f"{key} must be a number")
    return number


class _Console:
    def __init__(self, store: TraceStore) -> None:
        self.store = store
        self.files = {name: _static(name) for name in _STATIC_FILES}

    def page(self, path: str, query: Mapping[str, Any]) -> Page:
        name = "index.html" if path == "/" else path.rsplit("/", 1)[-1]
        body = self.files.get(name)
        if body is None:
            return Page(b"not found\n", "text/plain; charset=utf-8", 404)
        return Page(body, _TYPES["." + name.rsplit(".", 1)[-1]])

    # -- operations ----------------------------------------------------------------
    def status(self, request: Dict[str, Any]) -> Dict[str, Any]:
        stats = self.store.stats()
        return {
            "version": self.store.version,
            "traces": self.store.trace_count(),
            "stats": stats.to_dict(),
            "now": time.time(),
        }

    def traces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        expression = request.get("filter") or ""
        if not isinstance(expression, str):
            raise ApiError("filter must be a string")
        start = _number(request, "start", None)
        end = _number(request, "end", None)
        limit = int(_number(request, "limit", 50) or 50)
        limit = max(1, min(limit, _PAGE_LIMIT))
        after = request.get("after")
        if after is not None and not (isinstance(after, list) and len(after) == 2):
            raise ApiError("after must be [start_time, trace_id]")
        try:
            rows = self.store.trace_rows(start, end, expression, limit=limit + 1, after=tuple(after) if after else None)
        except FilterError as exc:
            return {"error": {"message": exc.reason, "position": exc.position, "text": str(exc)}}
        answer: Dict[str, Any] = {"rows": rows[:limit], "more": len(rows) > limit}
        group_by = request.get("group_by")
        if group_by in ("url", "status"):
            answer["groups"] = self._groups(group_by, start, end, expression)
        return answer

    def _groups(self, group_by: str, start: Optional[float], end: Optional[float], expression: str) -> Any:
        from ..daemon.filter_expr import compile_filter

        condition, params = compile_filter(expression)
        column = "t.http_url" if group_by == "url" else "t.http_status"
        where = [condition]
        values = list(params)
        if start is not None:
            where.append("t.start_time >= ?")
            values.append(start)
        if end is not None:
            where.append("t.start_time <= ?")
            values.append(end)
        return self.store.query(
            f"SELECT {column} AS key, count(*) AS count, sum(t.fault) AS faults, sum(t.error) AS errors, "
            f"sum(t.throttle) AS throttles, avg(t.response_time) AS avg_response_time FROM traces t "
            f"WHERE {' AND '.join(where)} GROUP BY {column} ORDER BY count(*) DESC LIMIT 100",
            values,
        )

    def trace(self, request: Dict[str, Any]) -> Dict[str, Any]:
        trace_id = request.get("trace_id")
        if not isinstance(trace_id, str):
            raise ApiError("trace_id must be a string")
        stored = self.store.documents([trace_id]).get(trace_id, [])
        rows = self.store.query(f"SELECT {TRACE_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id,))
        return {
            "summary": rows[0] if rows else None,
            "documents": [
                {
                    "id": doc.id, "valid": doc.valid, "errors": doc.errors, "warnings": doc.warnings,
                    "received_at": doc.received_at, "size": doc.size, "format": doc.format, "document": doc.document,
                }
                for doc in stored
            ],
        }

    def graph(self, request: Dict[str, Any]) -> Dict[str, Any]:
        end = _number(request, "end", time.time()) or time.time()
        start = _number(request, "start", 0.0) or 0.0
        return service_graph(self.store, start, end)

    def lint(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return lint(self.store)


def console_routes(store: TraceStore) -> HttpRoutes:
    """The console's pages and operations, with the security headers on every response."""
    console = _Console(store)
    return HttpRoutes(
        post_json={f"/console/api/{name}": getattr(console, name) for name in _OPERATIONS},
        get={"/": console.page, **{f"/static/{name}": console.page for name in _STATIC_FILES if name != "index.html"}},
        headers=dict(SECURITY_HEADERS),
    )
