"""The SDK's private members that the fast paths read are still where otel_xray/_sdk.py looks.

If a new SDK moves one, the code stays correct through its public fallback but
gets slower (or, for the batch queue, stops counting drops): this test is what
notices. It runs on the newest SDK in `make test` and on the lowest supported
one in CI's second run.
"""

from __future__ import annotations

import pytest

from otel_xray import _sdk
from otel_xray.translate import Translator

from .spans import make_span


# The SDK release that brought a path; older supported SDKs take the public fallback, and must.
FIRST_SDK_WITH = {"export_span_processor": (1, 29), "batch_emit": (1, 28)}


def sdk_version():
    from opentelemetry.sdk.version import __version__

    return tuple(int(part) for part in __version__.split(".")[:2])


@pytest.mark.parametrize("path", ["span_attributes", "span_fields", "span_events", "span_links", "batch_queue", "batch_emit", "export_span_processor", "span_processors"])
def test_every_fast_path_is_taken_on_this_sdk(path):
    taken = _sdk.fast_paths()[path]
    if sdk_version() < FIRST_SDK_WITH.get(path, (0, 0)):
        # e.g. the Lambda set-up through opentelemetry-instrument keeps the SDK's batch processor
        assert not taken, f"{path} is reported available on an SDK older than the one that brought it"
    else:
        assert taken, f"the installed OpenTelemetry SDK no longer allows the {path} fast path"


class _PublicOnly:
    """A span that offers only the public ReadableSpan surface."""

    def __init__(self, span):
        self._span = span

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._span, name)


def test_the_public_fallbacks_translate_the_same():
    span = make_span(
        "GET /x",
        attributes={"http.method": "GET", "http.status_code": 500, "k": "v"},
        events=[("exception", {"exception.type": "E", "exception.message": "m"})],
    )
    translator = Translator()
    fast, slow = translator.translate(span), translator.translate(_PublicOnly(span))
    for doc in (fast, slow):
        for exception in doc["cause"]["exceptions"]:
            exception.pop("id")
    assert fast == slow
    assert _sdk.span_attributes(_PublicOnly(span)) == _sdk.span_attributes(span)


def test_a_processor_without_a_visible_queue_is_reported():
    assert _sdk.batch_queue(object()) == (None, None)
