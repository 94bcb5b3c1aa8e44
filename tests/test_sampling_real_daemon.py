"""The sampler through the real AWS X-Ray daemon's TCP proxy, with the local daemon standing in for the X-Ray API.

sampler --HTTP--> real daemon (TCP proxy, SigV4-signs) --HTTP--> local daemon's sampling API
"""

from __future__ import annotations

from otel_xray.daemon.http_api import HttpRoutes
from otel_xray.daemon.sampling_api import SamplingRulesService, sampling_routes
from otel_xray.daemon.server import LocalDaemon

from .real_xray_daemon import RealXRayDaemon
from .sampling_helpers import SILENT_DEFAULT, XRayRemoteSampler, root_decision, rule


def test_sampling_calls_pass_through_the_real_daemon_and_decisions_follow_the_rules(shared):
    service = SamplingRulesService([rule("health", rate=0.0, url_path="/health"), rule("orders", priority=2, url_path="/orders/*"),
                                    SILENT_DEFAULT])
    routes = sampling_routes(service)
    # The daemon also sends PutTraceSegments and telemetry to its endpoint: answer them as X-Ray would.
    routes.merge(HttpRoutes(post_json={
        "/TraceSegments": lambda request: {"UnprocessedTraceSegments": []},
        "/TelemetryRecords": lambda request: {},
    }))
    with LocalDaemon("127.0.0.1", 0, http_routes=routes) as api, RealXRayDaemon(f"http://{api.endpoint}") as real:
        sampler = XRayRemoteSampler(endpoint=f"http://{real.tcp_address}", poll=False)
        assert sampler.fetch_rules(), real.log.read_text()[-2000:]
        assert [r.rule_name for r in sampler.rules] == ["health", "orders", "Default"]
        assert not root_decision(sampler, {"url.path": "/health"})
        assert all(root_decision(sampler, {"url.path": f"/orders/{i}"}) for i in range(5))
        assert sampler.fetch_targets() == 10  # statistics out, the stand-in's Interval back, through the proxy
        reported = {(s.client_id, s.rule_name, s.request_count, s.sampled_count) for s in service.received}
        assert reported == {(sampler.client_id, "health", 1, 0), (sampler.client_id, "orders", 5, 5)}
