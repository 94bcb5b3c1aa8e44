"""The console in a real headless browser: Debian's Chromium driven by Playwright.

One browser and one page for the module. Skips, saying why, where Chromium or
Playwright is missing (CI installs both: see .ci/run). With
XRAY_CONSOLE_SCREENSHOTS=DIR the three views are saved there as PNG (the
screenshots in docs/ are made this way).
"""

from __future__ import annotations

import io
import os
import pathlib
import time

import pytest

from otel_xray.daemon.server import LocalDaemon
from otel_xray.daemon.store import TraceStore
from otel_xray.demo import run_demo
from otel_xray.local_xray import store_routes

from .xray_fixtures import segment, send, subsegment, trace_id

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(2)</script>"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               # a name that resolves to loopback, as in a DNS-rebinding attack
               "--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1"]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
    db = str(tmp_path_factory.mktemp("console") / "traces.db")
    assert run_demo(db_path=db, stream=io.StringIO()) == 0  # the demo's real trace
    store = TraceStore(db)
    daemon = LocalDaemon("127.0.0.1", 0, http_routes=store_routes(store, console=True), store=store).start()
    now = time.time()
    hostile = segment(trace_id(0x666), "6660000000000001", HOSTILE, now - 5, 0.02, 500,
                      annotations={"note": HOSTILE_SCRIPT},
                      cause={"exceptions": [{"id": "6660000000000002", "type": HOSTILE, "message": HOSTILE_SCRIPT}]},
                      subsegments=[subsegment("6660000000000003", HOSTILE_SCRIPT, now - 4.99, namespace="remote")])
    send(daemon.address, hostile)
    for index in range(3):
        send(daemon.address, segment(trace_id(0x700 + index), f"70000000000000{index:02x}", "payments", now - 3 + index, 0.3, 503))
    assert daemon.wait_for(4) and store.flush()
    try:
        playwright = sync_api.sync_playwright().start()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Playwright cannot start: {exc}")
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    except Exception as exc:  # pragma: no cover - depends on the machine
        playwright.stop()
        pytest.skip(f"Chromium cannot be launched here: {str(exc).splitlines()[0]}")
    page = browser.new_page(viewport={"width": 1300, "height": 820})
    page.set_default_timeout(10_000)
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    url = f"http://127.0.0.1:{daemon.address[1]}/"
    yield {"page": page, "url": url, "daemon": daemon, "store": store, "dialogs": dialogs, "errors": errors,
           "browser": browser}
    browser.close()
    playwright.stop()
    daemon.stop()
    store.close()


def _screenshot(page, name):
    target = os.environ.get("XRAY_CONSOLE_SCREENSHOTS")
    if target:
        pathlib.Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(pathlib.Path(target) / f"console-{name}.png"))


def test_the_trace_list_shows_the_stored_traces(console):
    page = console["page"]
    page.goto(console["url"])
    page.wait_for_selector(".trace-row")
    names = page.locator(".trace-row .trace-name").all_text_contents()
    assert "checkout" in names and names.count("payments") == 3 and HOSTILE in names
    checkout = page.locator(".trace-row", has_text="checkout")
    assert "https://shop.example.com/orders/42" in checkout.text_content()
    assert "throttle below" in checkout.text_content()  # the inventory call under it was throttled
    _screenshot(page, "traces")


def test_a_filter_narrows_the_list_and_a_bad_one_says_where(console):
    page = console["page"]
    page.goto(console["url"])
    page.fill("#filter", 'service("payments") AND http.status = 503')
    page.click("#apply")
    # Not wait_for_function: when it has to poll it evaluates a string in the page, which the
    # console's CSP (no 'unsafe-eval') refuses; Playwright's own assertion polls from outside.
    from playwright.sync_api import expect

    expect(page.locator(".trace-row")).to_have_count(3)
    assert set(page.locator(".trace-row .trace-name").all_text_contents()) == {"payments"}
    page.fill("#filter", "http.status = fast")
    page.press("#filter", "Enter")
    page.wait_for_selector("#filter-error:not(:empty)")
    assert "expected a number after http.status = at column 15" in page.text_content("#filter-error")
    page.select_option("#group-by", "status")
    page.fill("#filter", "")
    page.click("#apply")
    page.wait_for_selector("#groups-table")
    assert "503" in page.text_content("#groups-table")


def test_the_timeline_shows_the_waterfall_and_each_entitys_tabs(console):
    page = console["page"]
    page.goto(console["url"])
    page.click(".trace-row:has-text('checkout')")
    page.wait_for_selector(".wf-row")
    rows = page.locator(".wf-row .wf-name").all_text_contents()
    assert rows[0].startswith("checkout") and len(rows) == 8
    assert any(r.startswith("inventory") and "segment" in r for r in rows)
    assert page.locator(".wf-bar.throttle").count() == 2
    _screenshot(page, "timeline")
    page.click(".wf-row:has-text('apply-discount')")
    page.click(".tabs button:has-text('Exceptions')")
    assert "ValueError: coupon SPRING24 has expired" in page.text_content("#tab-content")
    page.click(".wf-row:has-text('shop')")
    page.click(".tabs button:has-text('SQL')")
    assert "SELECT id, total FROM orders WHERE id = ?" in page.text_content("#tab-content")
    page.click(".tabs button:has-text('Validation')")
    assert "valid: X-Ray would accept it" in page.text_content("#tab-content")
    page.click(".tabs button:has-text('Raw JSON')")
    assert '"sanitized_query"' in page.text_content("#raw-json")


def test_the_service_map_shows_nodes_colours_and_histograms(console):
    page = console["page"]
    page.goto(console["url"] + "#/map")
    page.wait_for_selector("svg.map .node")
    nodes = {n.get_attribute("data-name"): n.get_attribute("data-health") for n in page.query_selector_all("svg.map .node")}
    assert {"client", "checkout", "inventory", "DynamoDB", "shop", "payments"} <= set(nodes)
    assert nodes["payments"] == "#d13212"  # faults: red
    assert nodes["inventory"] == "#8a3ffc"  # a throttle: purple
    assert nodes["checkout"] == "#1d8102"
    shares = {p.get_attribute("data-share") for p in page.query_selector_all("svg.map .node[data-name=inventory] [data-share]")}
    assert shares == {"throttle", "ok"}
    page.click("svg.map .node[data-name=inventory] circle.core")
    page.wait_for_selector("#map-detail svg.histogram rect")
    assert "Throttles (429)1" in page.text_content("#map-detail").replace("\n", "")
    _screenshot(page, "map")
    page.click("#map-traces-link")
    page.wait_for_selector(".trace-row")
    assert page.input_value("#filter").startswith('service(id(name: "inventory"')
    page.goto(console["url"] + "#/map")
    page.click("svg.map .edge[data-source=checkout][data-destination=DynamoDB]")
    assert "edge" in page.text_content("#map-detail")


def test_a_new_trace_appears_without_reloading(console):
    page = console["page"]
    page.goto(console["url"])
    page.wait_for_selector(".trace-row")
    page.evaluate("window.__sameDocument = true")
    send(console["daemon"].address, segment(trace_id(0x900), "9000000000000001", "late-arrival", time.time(), 0.01))
    page.wait_for_selector(".trace-row:has-text('late-arrival')", timeout=15000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def test_hostile_values_stay_text(console):
    page = console["page"]
    page.goto(console["url"])
    page.wait_for_selector(".trace-row")
    assert page.locator(".trace-row .trace-name", has_text=HOSTILE).count() == 1
    page.click(f".trace-row:has-text('{HOSTILE}')")
    page.wait_for_selector(".wf-row")
    assert HOSTILE_SCRIPT in page.locator(".wf-row .wf-name").all_text_contents()[1]
    page.click(".tabs button:has-text('Annotations')")
    assert HOSTILE_SCRIPT in page.text_content("#tab-content")
    page.click(".tabs button:has-text('Exceptions')")
    assert f"{HOSTILE}: {HOSTILE_SCRIPT}" in page.text_content("#tab-content")
    page.click(".tabs button:has-text('Validation')")
    assert "InvalidName" in page.text_content("#tab-content")
    page.goto(console["url"] + "#/map")
    page.wait_for_selector("svg.map .node")
    page.goto(console["url"] + "#/lint")
    page.wait_for_selector(".lint-group")
    assert "name: characters X-Ray rejects (InvalidName)" in page.text_content("main")
    time.sleep(0.5)
    assert console["dialogs"] == []
    assert page.evaluate("document.querySelectorAll('img, script:not([src])').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1


def test_the_page_is_served_with_a_strict_content_security_policy(console):
    page = console["page"]
    response = page.goto(console["url"])
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert console["errors"] == []  # no CSP violation, no script error on any page so far


def test_a_rebound_host_name_is_refused(console):
    page = console["page"]
    port = console["daemon"].address[1]
    response = page.goto(f"http://rebind.attacker.test:{port}/")
    assert response.status == 403
    assert "loopback" in page.text_content("body")
    answer = page.evaluate(
        """async (port) => { const r = await fetch('http://127.0.0.1:' + port + '/console/api/status',
            {method: 'POST', body: '{}', mode: 'no-cors'}).catch(e => null); return r === null ? 'blocked' : r.type; }""",
        port,
    )
    assert answer in ("blocked", "opaque")  # the response is not readable from another origin
    console["errors"].clear()


def test_get_never_changes_state(console):
    import http.client

    host, port = console["daemon"].http.address
    before = console["store"].version
    for path in ("/TraceSegments", "/console/api/status", "/console/api/lint"):
        connection = http.client.HTTPConnection(host, port, timeout=5)
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
        assert connection.getresponse().status == 404
        connection.close()
    assert console["store"].version == before
