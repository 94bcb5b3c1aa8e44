"""The typed model (otel_xray/document.py) holds: mypy checks the span protocol against both span shapes."""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _mypy(*arguments: str):
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[test]')")
    return api.run(["--no-incremental", "--cache-dir", "/dev/null", *arguments])


def test_readable_span_and_decoded_otlp_span_satisfy_the_span_protocol():
    stdout, stderr, status = _mypy("--strict", "--follow-imports=silent", str(ROOT / "tests" / "span_protocol_check.py"))
    assert status == 0, stdout + stderr


def test_a_span_shape_missing_a_field_is_refused(tmp_path):
    # The check can fail: an object without ``status`` is not a SpanLike.
    bad = tmp_path / "bad_span.py"
    bad.write_text(
        "from otel_xray.document import SpanLike\n"
        "class NoStatus:\n"
        "    name = 'x'\n"
        "def f(span: NoStatus) -> SpanLike:\n"
        "    return span\n"
    )
    stdout, _, status = _mypy("--follow-imports=silent", str(bad))
    assert status == 1 and "SpanLike" in stdout


def test_the_translator_is_strictly_typed():
    targets = ["otel_xray/translate", "otel_xray/values.py", "otel_xray/ids.py", "otel_xray/document.py"]
    stdout, stderr, status = _mypy("--strict", "--follow-imports=silent", *(str(ROOT / target) for target in targets))
    assert status == 0, stdout + stderr
