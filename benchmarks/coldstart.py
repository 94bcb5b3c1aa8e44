"""Cold start: import + setup time in a fresh interpreter, otel-xray against the plain OTel SDK setup.

Each variant runs in its own new Python process, alternating, and reports the
time from before its first import to a configured TracerProvider (measured
inside the process, so the interpreter's own start-up is excluded).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List, Tuple

_PRELUDE = "import time; t0 = time.perf_counter()\n"
_REPORT = "\nimport json, sys; print(json.dumps({'ms': (time.perf_counter() - t0) * 1000, 'protobuf': 'google.protobuf' in sys.modules}))\n"

VARIANTS: Dict[str, str] = {
    "plain OTel SDK: TracerProvider + BatchSpanProcessor (no-op exporter)": """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
class Noop(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS
provider = TracerProvider(resource=Resource.create({}))
provider.add_span_processor(BatchSpanProcessor(Noop()))
trace.set_tracer_provider(provider)
""",
    "otel-xray in Lambda, JSON: X-Ray IDs + InvocationSpanProcessor + exporter": """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.aws_lambda import InvocationSpanProcessor, lambda_resource_attributes
provider = TracerProvider(resource=Resource.create(lambda_resource_attributes()), id_generator=XRayIdGenerator())
provider.add_span_processor(InvocationSpanProcessor(XRaySpanExporter()))
trace.set_tracer_provider(provider)
""",
    "otel-xray in Lambda, OTLP over UDP (loads protobuf)": """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.aws_lambda import InvocationSpanProcessor, lambda_resource_attributes
provider = TracerProvider(resource=Resource.create(lambda_resource_attributes()), id_generator=XRayIdGenerator())
provider.add_span_processor(InvocationSpanProcessor(XRaySpanExporter(protocol="otlp")))
trace.set_tracer_provider(provider)
""",
}


def measure(runs: int = 15) -> List[Tuple[str, float, bool]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env.update(AWS_LAMBDA_FUNCTION_NAME="coldstart", AWS_REGION="us-east-1")
    # Installed packages come with bytecode (pip compiles at install, for Lambda
    # bundles too); let this checkout's modules be cached likewise, or they
    # would be compiled from source on every run while the SDK's are not.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    samples: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    protobuf: Dict[str, bool] = {}
    for warm_up in range(runs + 1):
        for name, code in VARIANTS.items():  # alternate, so that noise hits all variants alike
            out = subprocess.run(
                [sys.executable, "-c", _PRELUDE + code + _REPORT], env=env, capture_output=True, text=True, timeout=120
            )
            if out.returncode != 0:
                raise RuntimeError(out.stderr)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            if warm_up:
                samples[name].append(data["ms"])
            protobuf[name] = data["protobuf"]
    return [(name, statistics.median(values), protobuf[name]) for name, values in samples.items()]


def main() -> None:
    rows = measure()
    base = rows[0][1]
    for name, ms, loaded in rows:
        print(f"  {name:75s} {ms:7.1f} ms  {ms / base:.2f}x plain SDK{'  (protobuf loaded)' if loaded else ''}")


if __name__ == "__main__":
    main()
