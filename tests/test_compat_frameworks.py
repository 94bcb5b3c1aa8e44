"""The SDK's Flask and Django entry points, in fresh interpreters (the global tracer provider is set once per process)."""

from __future__ import annotations

import textwrap
from typing import Any, Dict, List

import pytest

from .xray_fixtures import entities_as_read, received_from_script

FLASK_APP = """
from flask import Flask
from otel_xray.compat import xray_recorder
from otel_xray.compat.ext.flask.middleware import XRayMiddleware

app = Flask(__name__)
xray_recorder.configure(service="shop", sampling=False)
XRayMiddleware(app, xray_recorder)

@xray_recorder.capture("load_order")
def load_order(order_id):
    xray_recorder.current_subsegment().put_annotation("order_id", order_id)
    xray_recorder.current_segment().put_annotation("tenant", "acme")   # the request's segment, from nested code
    return {"id": order_id}

@app.route("/orders/<int:order_id>")
def order(order_id):
    xray_recorder.current_segment().set_user("alice")
    return load_order(order_id)

response = app.test_client().get("/orders/7", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"})
assert response.status_code == 200, response.status_code
"""

DJANGO_APP = """
import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

def order(request, order_id):
    from otel_xray.compat import xray_recorder
    segment = xray_recorder.current_segment()
    segment.put_annotation("tenant", "acme")
    with xray_recorder.in_subsegment("load_order") as subsegment:
        subsegment.put_annotation("order_id", order_id)
    return JsonResponse({"id": order_id})

urlpatterns = [path("orders/<int:order_id>", order)]
settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["otel_xray.compat.ext.django"],
    MIDDLEWARE=["otel_xray.compat.ext.django.middleware.XRayMiddleware"],
    DATABASES={},
    XRAY_RECORDER={"AWS_XRAY_TRACING_NAME": "shop", "SAMPLING": False, "URLS_AS_ANNOTATION": "ALL"},
)
django.setup()
from django.test import Client
response = Client().get("/orders/7", HTTP_USER_AGENT="tests/1.0")
assert response.status_code == 200, response.status_code
"""


def _run(code: str, tmp_path: Any) -> List[Dict[str, Any]]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    received = received_from_script(script, tmp_path)
    assert all(item.verdict.valid for item in received)
    return entities_as_read([item.document for item in received])


def test_flask_middleware_gives_a_segment_per_request_under_the_incoming_trace(tmp_path: Any) -> None:
    pytest.importorskip("opentelemetry.instrumentation.flask")
    entities = {entity["name"]: entity for entity in _run(FLASK_APP, tmp_path)}
    segment = entities["shop"]
    assert "type" not in segment  # a segment, named after the service
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" and segment["parent_id"] == "53995c3f42cd8ad8"
    assert segment["annotations"] == {"tenant": "acme"} and segment["user"] == "alice"
    assert segment["http"]["request"]["method"] == "GET" and segment["http"]["response"]["status"] == 200
    assert entities["load_order"]["parent_id"] == segment["id"]
    assert entities["load_order"]["annotations"] == {"order_id": 7}


def test_django_app_and_middleware_give_a_segment_per_request(tmp_path: Any) -> None:
    pytest.importorskip("opentelemetry.instrumentation.django")
    entities = {entity["name"]: entity for entity in _run(DJANGO_APP, tmp_path)}
    segment = entities["shop"]
    assert "type" not in segment
    annotations = segment["annotations"]
    # URLS_AS_ANNOTATION=ALL, as in the SDK's middleware, plus the view's own annotation.
    assert annotations["tenant"] == "acme" and annotations["method"] == "GET" and annotations["status"] == 200
    assert annotations["url"].endswith("/orders/7") and annotations["user_agent"] == "tests/1.0"
    assert entities["load_order"]["parent_id"] == segment["id"]
    assert entities["load_order"]["annotations"] == {"order_id": 7}
