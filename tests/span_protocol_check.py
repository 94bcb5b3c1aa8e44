"""Checked by mypy (tests/test_document_types.py), never run: both span shapes the translator reads satisfy SpanLike."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.daemon.otlp import DecodedSpan
from otel_xray.document import Document, SpanLike
from otel_xray.translate import Translator


def sdk_span(span: ReadableSpan) -> SpanLike:
    return span


def decoded_otlp_span(span: DecodedSpan) -> SpanLike:
    return span


def translated(translator: Translator, span: ReadableSpan, decoded: DecodedSpan) -> tuple[Document, Document]:
    return translator.translate(span), translator.translate(decoded)
