// otel-xray console. Plain DOM code: every value that comes from a span is put into the page with
// text nodes (textContent / createTextNode / setAttribute on SVG geometry), never parsed as markup.
"use strict";

(function () {
  const view = document.getElementById("view");
  const statusLine = document.getElementById("status");
  const windowSelect = document.getElementById("window");
  const live = document.getElementById("live");
  const SVG = "http://www.w3.org/2000/svg";
  const state = { version: -1, route: null, refresh: null, pages: [], lastData: null };

  // ------------------------------------------------------------------ helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "onclick") el.addEventListener("click", value);
      else if (key === "className") el.setAttribute("class", value);
      else el.setAttribute(key, String(value));
    }
  }
  function append(el, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function text(value) { return value === null || value === undefined ? "" : String(value); }
  function ms(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds >= 10) return seconds.toFixed(1) + " s";
    if (seconds >= 1) return seconds.toFixed(2) + " s";
    return (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1) + " ms";
  }
  function when(epoch) {
    if (!epoch) return "";
    const d = new Date(epoch * 1000);
    return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function quote(value) { return '"' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"'; }
  function traceHref(id) { return "#/trace/" + encodeURIComponent(id); }
  function tracesHref(filter) { return "#/traces?filter=" + encodeURIComponent(filter); }

  async function call(op, body) {
    const response = await fetch("/console/api/" + op, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
      credentials: "same-origin", cache: "no-store",
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }
  function timeWindow() {
    const seconds = Number(windowSelect.value);
    const end = Date.now() / 1000 + 60;
    return seconds ? { start: end - 60 - seconds, end: end } : { start: 0, end: end };
  }
  function marks(row, prefix) {
    const out = [];
    const p = prefix || "";
    if (row[p + "fault"]) out.push(h("span", { className: "mark fault", title: "fault (5xx)" }, "fault"));
    if (row[p + "error"]) out.push(h("span", { className: "mark error", title: "error (4xx)" }, "error"));
    if (row[p + "throttle"]) out.push(h("span", { className: "mark throttle", title: "throttled (429)" }, "throttle"));
    return out;
  }
  function statusClass(e) {
    if (e.in_progress && e.end_time === undefined) return "partial";
    if (e.fault) return "fault";
    if (e.throttle) return "throttle";
    if (e.error) return "error";
    return "ok";
  }

  // ------------------------------------------------------------------ routing
  function parseRoute() {
    const hash = location.hash.replace(/^#/, "") || "/traces";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    return { path: path, params: params };
  }
  async function render() {
    const route = parseRoute();
    state.route = route;
    for (const [id, prefix] of [["nav-traces", "/trace"], ["nav-map", "/map"], ["nav-lint", "/lint"]]) {
      document.getElementById(id).classList.toggle("active", route.path.startsWith(prefix));
    }
    try {
      if (route.path.startsWith("/trace/")) await renderTimeline(decodeURIComponent(route.path.slice(7)));
      else if (route.path === "/map") await renderMap();
      else if (route.path === "/lint") await renderLint();
      else await renderTraces(route.params);
    } catch (err) {
      clear(view);
      view.appendChild(h("div", { className: "panel filter-error", role: "alert" }, "Error: " + err.message));
    }
  }
  window.addEventListener("hashchange", () => { state.pages = []; render(); });
  windowSelect.addEventListener("change", () => { state.pages = []; render(); });

  // ------------------------------------------------------------------ traces
  async function renderTraces(params) {
    const filter = params.get("filter") || "";
    const groupBy = params.get("group") || "";
    const input = h("input", { type: "text", id: "filter", value: filter, spellcheck: "false",
      placeholder: 'e.g. service("checkout") AND http.status >= 500, annotation.order_id = "42", responsetime > 0.5',
      "aria-label": "filter expression" });
    const group = h("select", { id: "group-by", "aria-label": "group by" },
      h("option", { value: "" }, "no grouping"), h("option", { value: "url" }, "group by URL"),
      h("option", { value: "status" }, "group by status"));
    group.value = groupBy;
    const errorBox = h("div", { id: "filter-error", className: "filter-error", role: "alert" });
    const apply = () => {
      const next = "#/traces?filter=" + encodeURIComponent(input.value) + (group.value ? "&group=" + group.value : "");
      if (location.hash === next) render(); else location.hash = next;
    };
    input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") apply(); });
    group.addEventListener("change", apply);
    const form = h("div", { className: "panel" },
      h("div", { className: "filter" }, input, h("button", { id: "apply", onclick: apply }, "Apply"), group),
      errorBox);
    const body = h("div", { id: "traces-body" });
    clear(view);
    append(view, [form, body]);
    state.refresh = () => loadTraces(filter, groupBy, body, errorBox, false);
    await loadTraces(filter, groupBy, body, errorBox, true);
  }

  async function loadTraces(filter, groupBy, body, errorBox, fresh) {
    const page = state.pages.length ? state.pages[state.pages.length - 1] : null;
    if (!fresh && page) return; // a later page stays still; page 1 follows new traces
    const data = await call("traces", Object.assign({ filter: filter, limit: 50, group_by: groupBy || null, after: page }, timeWindow()));
    clear(errorBox);
    clear(body);
    if (data.error) {
      errorBox.appendChild(document.createTextNode(data.error.text));
      return;
    }
    if (data.groups) body.appendChild(groupTable(data.groups, groupBy));
    const table = h("table", { id: "traces-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Trace ID"), h("th", {}, "Name"), h("th", {}, "Method"),
        h("th", {}, "URL"), h("th", { className: "num" }, "Status"), h("th", { className: "num" }, "Duration"),
        h("th", { className: "num" }, "Response time"), h("th", {}, "Marks"))));
    const tbody = h("tbody", {});
    for (const row of data.rows) {
      const tr = h("tr", { className: "clickable trace-row", "data-trace-id": row.trace_id,
        onclick: () => { location.hash = traceHref(row.trace_id); } },
        h("td", {}, when(row.start_time)),
        h("td", {}, h("a", { href: traceHref(row.trace_id) }, row.trace_id)),
        h("td", { className: "trace-name" }, text(row.name)),
        h("td", {}, text(row.http_method)),
        h("td", { className: "url", title: text(row.http_url) }, text(row.http_url)),
        h("td", { className: "num" }, text(row.http_status)),
        h("td", { className: "num" }, ms(row.duration)),
        h("td", { className: "num" }, ms(row.response_time)),
        h("td", {}, marks(row), innerMarks(row), row.in_progress ? h("span", { className: "mark partial" }, "in progress") : null,
          row.invalid ? h("span", { className: "mark fault", title: "documents X-Ray would reject" }, row.invalid + " invalid") : null));
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    body.appendChild(table);
    if (!data.rows.length) body.appendChild(h("p", { className: "muted", id: "no-traces" }, "No traces match."));
    const pager = h("div", { className: "pager" });
    if (state.pages.length) pager.appendChild(h("button", { id: "newer", onclick: () => { state.pages.pop(); render(); } }, "\u2190 Newer"));
    if (data.more) {
      const last = data.rows[data.rows.length - 1];
      pager.appendChild(h("button", { id: "older", onclick: () => { state.pages.push([last.start_time, last.trace_id]); render(); } }, "Older \u2192"));
    }
    pager.appendChild(h("span", { className: "muted" }, "page " + (state.pages.length + 1)));
    body.appendChild(pager);
  }
  function innerMarks(row) {
    const out = [];
    for (const [flag, label] of [["fault", "fault"], ["error", "error"], ["throttle", "throttle"]]) {
      if (row["any_" + flag] && !row[flag]) out.push(h("span", { className: "mark inner " + flag, title: "in a downstream segment" }, label + " below"));
    }
    return out;
  }
  function groupTable(groups, groupBy) {
    const table = h("table", { id: "groups-table", className: "panel" },
      h("thead", {}, h("tr", {}, h("th", {}, groupBy === "url" ? "URL" : "Status"), h("th", { className: "num" }, "Traces"),
        h("th", { className: "num" }, "Faults"), h("th", { className: "num" }, "Errors"), h("th", { className: "num" }, "Throttles"),
        h("th", { className: "num" }, "Avg response"))));
    const tbody = h("tbody", {});
    for (const g of groups) {
      const filter = g.key === null ? "" : (groupBy === "url" ? "http.url = " + quote(g.key) : "http.status = " + g.key);
      tbody.appendChild(h("tr", { className: "clickable", onclick: () => { if (filter) location.hash = tracesHref(filter); } },
        h("td", {}, g.key === null ? "(none)" : text(g.key)), h("td", { className: "num" }, g.count),
        h("td", { className: "num" }, g.faults), h("td", { className: "num" }, g.errors),
        h("td", { className: "num" }, g.throttles), h("td", { className: "num" }, ms(g.avg_response_time))));
    }
    table.appendChild(tbody);
    return table;
  }

  // ------------------------------------------------------------------ timeline
  function buildTree(documents) {
    // Every segment and subsegment, linked to its parent across documents.
    const entities = [];
    const byId = new Map();
    function walk(entity, doc, parent, depthKind) {
      if (!entity || typeof entity !== "object") return;
      const item = { entity: entity, doc: doc, parentId: parent ? parent.entity.id : entity.parent_id, children: [],
        kind: depthKind };
      entities.push(item);
      if (typeof entity.id === "string" && !byId.has(entity.id)) byId.set(entity.id, item);
      for (const child of Array.isArray(entity.subsegments) ? entity.subsegments : []) walk(child, doc, item, "subsegment");
    }
    for (const doc of documents) {
      const root = doc.document;
      walk(root, doc, null, root && root.type === "subsegment" ? "subsegment" : "segment");
    }
    const roots = [];
    for (const item of entities) {
      const parent = item.parentId !== undefined ? byId.get(item.parentId) : undefined;
      if (parent && parent !== item && !item.attached) { parent.children.push(item); item.attached = true; }
      else roots.push(item);
    }
    const byStart = (a, b) => (a.entity.start_time || 0) - (b.entity.start_time || 0);
    const ordered = [];
    const seen = new Set();
    function flatten(item, depth) {
      if (seen.has(item)) return;
      seen.add(item);
      item.depth = depth;
      ordered.push(item);
      item.children.sort(byStart).forEach((c) => flatten(c, depth + 1));
    }
    roots.sort(byStart).forEach((r) => flatten(r, 0));
    return ordered;
  }

  async function renderTimeline(traceId) {
    const data = await call("trace", { trace_id: traceId });
    state.refresh = async () => {
      const again = await call("trace", { trace_id: traceId });
      if (JSON.stringify(again.documents) !== JSON.stringify(data.documents)) render();
    };
    clear(view);
    if (!data.documents.length) {
      view.appendChild(h("div", { className: "panel" }, "Trace " + traceId + " is not stored."));
      return;
    }
    const items = buildTree(data.documents);
    let t0 = Infinity, t1 = -Infinity;
    for (const item of items) {
      const e = item.entity;
      if (typeof e.start_time === "number") { t0 = Math.min(t0, e.start_time); t1 = Math.max(t1, e.start_time); }
      if (typeof e.end_time === "number") t1 = Math.max(t1, e.end_time);
    }
    const span = Math.max(t1 - t0, 1e-6);
    const summary = data.summary || {};
    const head = h("div", { className: "panel" },
      h("h2", { id: "trace-title" }, "Trace ", traceId),
      h("dl", { className: "kv" },
        h("dt", {}, "Started"), h("dd", {}, when(t0)),
        h("dt", {}, "Duration"), h("dd", {}, ms(t1 - t0)),
        h("dt", {}, "Entry point"), h("dd", {}, text(summary.name), " ", text(summary.http_method), " ", text(summary.http_url), " ", text(summary.http_status)),
        h("dt", {}, "Documents"), h("dd", {}, data.documents.length + " (" + data.documents.filter((d) => !d.valid).length + " invalid)")));
    const wf = h("div", { className: "panel waterfall", id: "waterfall" });
    const detail = h("div", { className: "panel", id: "detail" });
    items.forEach((item, index) => {
      const e = item.entity;
      const start = typeof e.start_time === "number" ? e.start_time : t0;
      const end = typeof e.end_time === "number" ? e.end_time : t1;
      const bar = h("div", { className: "wf-bar " + statusClass(e) });
      bar.style.left = ((start - t0) / span * 100).toFixed(3) + "%";
      bar.style.width = (Math.max(end - start, 0) / span * 100).toFixed(3) + "%";
      const name = h("div", { className: "wf-name" }, text(e.name),
        h("span", { className: "wf-kind" }, item.kind + (e.namespace ? "/" + e.namespace : "")));
      name.style.paddingLeft = (0.4 + item.depth * 1.1) + "em";
      const row = h("div", { className: "wf-row", "data-index": index, role: "button", tabindex: 0 },
        name, h("div", { className: "wf-track" }, bar),
        h("div", { className: "wf-dur" }, typeof e.end_time === "number" ? ms(e.end_time - start) : "in progress"));
      const select = () => {
        for (const other of wf.querySelectorAll(".wf-row.selected")) other.classList.remove("selected");
        row.classList.add("selected");
        showEntity(detail, item);
      };
      row.addEventListener("click", select);
      row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") select(); });
      wf.appendChild(row);
    });
    append(view, [head, wf, detail]);
    showEntity(detail, items[0]);
    wf.firstChild.classList.add("selected");
  }

  function kv(pairs) {
    const dl = h("dl", { className: "kv" });
    for (const [key, value] of pairs) {
      if (value === undefined || value === null || value === "") continue;
      dl.appendChild(h("dt", {}, key));
      dl.appendChild(h("dd", {}, typeof value === "object" && !(value instanceof Node) ? JSON.stringify(value) : value));
    }
    return dl;
  }
  function showEntity(panel, item) {
    const e = item.entity;
    const doc = item.doc;
    const http = (e.http && typeof e.http === "object") ? e.http : {};
    const req = http.request || {}, resp = http.response || {};
    const cause = e.cause && typeof e.cause === "object" ? e.cause : null;
    const exceptions = cause && Array.isArray(cause.exceptions) ? cause.exceptions : [];
    const tabs = {
      "Overview": () => kv([["Name", text(e.name)], ["ID", text(e.id)], ["Kind", item.kind], ["Namespace", text(e.namespace)],
        ["Origin", text(e.origin)], ["Parent ID", text(e.parent_id || item.parentId)], ["Start", when(e.start_time)],
        ["End", e.end_time ? when(e.end_time) : "in progress"], ["Duration", typeof e.end_time === "number" ? ms(e.end_time - e.start_time) : ""],
        ["Status", h("span", {}, marks(e), statusClass(e) === "ok" ? h("span", { className: "mark ok" }, "ok") : null)],
        ["HTTP", [text(req.method), text(req.url), text(resp.status)].filter(Boolean).join(" ")],
        ["User agent", text(req.user_agent)], ["Client IP", text(req.client_ip)], ["User", text(e.user)],
        ["AWS", e.aws ? JSON.stringify(e.aws) : ""], ["Received", when(doc.received_at) + " (" + doc.format + ", " + doc.size + " bytes)"]]),
      "Annotations": () => e.annotations && Object.keys(e.annotations).length
        ? kv(Object.entries(e.annotations).map(([k, v]) => [k, JSON.stringify(v)])) : h("p", { className: "muted" }, "No annotations."),
      "Metadata": () => e.metadata ? h("pre", {}, JSON.stringify(e.metadata, null, 2)) : h("p", { className: "muted" }, "No metadata."),
      "Exceptions": () => exceptions.length ? h("div", {}, exceptions.map((x) => h("div", { className: "exception" },
        h("h4", {}, text(x.type), x.type ? ": " : "", text(x.message), x.remote ? " (remote)" : ""),
        h("pre", {}, (Array.isArray(x.stack) ? x.stack : []).map((f) => "  at " + text(f.label) + " (" + text(f.path) + ":" + text(f.line) + ")").join("\n")
          + (x.truncated ? "\n  \u2026 " + x.truncated + " more frame(s)" : ""))))) : h("p", { className: "muted" }, "No exceptions."),
      "SQL": () => e.sql ? kv(Object.entries(e.sql).map(([k, v]) => [k, text(v)])) : h("p", { className: "muted" }, "No SQL."),
      "Raw JSON": () => h("pre", { id: "raw-json" }, JSON.stringify(e, null, 2)),
      "Validation": () => h("div", {},
        h("p", { className: doc.valid ? "verdict-ok" : "verdict-bad" },
          doc.valid ? "This document is valid: X-Ray would accept it." : "X-Ray would reject this document:"),
        doc.errors.length ? h("ul", {}, doc.errors.map((m) => h("li", { className: "verdict-bad" }, m))) : null,
        doc.warnings.length ? h("ul", {}, doc.warnings.map((m) => h("li", { className: "verdict-warn" }, "warning: " + m))) : null,
        h("p", { className: "muted" }, "The verdict is per document: document " + text(doc.id) + " carries this entity.")),
    };
    clear(panel);
    const bar = h("div", { className: "tabs", role: "tablist" });
    const content = h("div", { id: "tab-content" });
    let current = panel.dataset.tab && tabs[panel.dataset.tab] ? panel.dataset.tab : "Overview";
    const show = (name) => {
      current = name;
      panel.dataset.tab = name;
      for (const b of bar.children) b.classList.toggle("active", b.textContent === name);
      clear(content);
      content.appendChild(tabs[name]());
    };
    for (const name of Object.keys(tabs)) bar.appendChild(h("button", { role: "tab", onclick: () => show(name) }, name));
    append(panel, [h("h3", { id: "detail-title" }, text(e.name)), bar, content]);
    show(current);
  }

  // ------------------------------------------------------------------ service map
  function layout(services) {
    // Layers by longest path from the roots (client first), then order by the mean position of callers.
    const ids = services.map((n) => n.ReferenceId);
    const incoming = new Map(ids.map((id) => [id, []]));
    for (const n of services) for (const e of n.Edges) if (incoming.has(e.ReferenceId) && e.ReferenceId !== n.ReferenceId) incoming.get(e.ReferenceId).push(n.ReferenceId);
    const layer = new Map();
    const visiting = new Set();
    function depth(id) {
      if (layer.has(id)) return layer.get(id);
      if (visiting.has(id)) return 0; // a cycle: cut it here
      visiting.add(id);
      let d = 0;
      for (const from of incoming.get(id) || []) d = Math.max(d, depth(from) + 1);
      visiting.delete(id);
      layer.set(id, d);
      return d;
    }
    ids.forEach(depth);
    const layers = [];
    for (const id of ids) (layers[layer.get(id)] = layers[layer.get(id)] || []).push(id);
    const position = new Map();
    layers.forEach((members, index) => {
      if (index > 0) {
        const mean = (id) => {
          const from = incoming.get(id).filter((f) => position.has(f));
          return from.length ? from.reduce((a, f) => a + position.get(f), 0) / from.length : 0;
        };
        members.sort((a, b) => mean(a) - mean(b));
      }
      members.forEach((id, i) => position.set(id, i - (members.length - 1) / 2));
    });
    const tallest = Math.max(1, ...layers.map((m) => (m ? m.length : 0)));
    const xGap = 190, yGap = 96;
    const coords = new Map();
    layers.forEach((members, index) => (members || []).forEach((id) => {
      coords.set(id, { x: 90 + index * xGap, y: 60 + (position.get(id) + (tallest - 1) / 2) * yGap });
    }));
    return { coords: coords, width: 180 + Math.max(0, layers.length - 1) * xGap, height: 120 + (tallest - 1) * yGap };
  }

  function shares(stats) {
    if (!stats || !stats.TotalCount) return null;
    const t = stats.TotalCount;
    return { fault: stats.FaultStatistics.TotalCount / t, throttle: stats.ErrorStatistics.ThrottleCount / t,
      error: stats.ErrorStatistics.OtherCount / t, ok: stats.OkCount / t };
  }
  function healthColour(stats) {
    const sh = shares(stats);
    if (!sh) return "#aab7b8";
    if (sh.fault > 0) return "#d13212";
    if (sh.throttle > 0) return "#8a3ffc";
    if (sh.error > 0) return "#ec7211";
    return "#1d8102";
  }
  function ring(cx, cy, r, stats) {
    // The share of faults, errors, throttles and ok requests as arcs around the node.
    const g = s("g", { className: "ring" });
    const sh = shares(stats);
    if (!sh) { g.appendChild(s("circle", { cx: cx, cy: cy, r: r, fill: "none", stroke: "#aab7b8", "stroke-width": 5 })); return g; }
    let angle = -Math.PI / 2;
    for (const [key, colour] of [["fault", "#d13212"], ["error", "#ec7211"], ["throttle", "#8a3ffc"], ["ok", "#1d8102"]]) {
      const part = sh[key];
      if (part <= 0) continue;
      if (part >= 0.9999) { g.appendChild(s("circle", { cx: cx, cy: cy, r: r, fill: "none", stroke: colour, "stroke-width": 5, "data-share": key })); break; }
      const a2 = angle + part * 2 * Math.PI;
      const large = part > 0.5 ? 1 : 0;
      const d = "M " + (cx + r * Math.cos(angle)) + " " + (cy + r * Math.sin(angle)) + " A " + r + " " + r + " 0 " + large + " 1 " + (cx + r * Math.cos(a2)) + " " + (cy + r * Math.sin(a2));
      g.appendChild(s("path", { d: d, fill: "none", stroke: colour, "stroke-width": 5, "data-share": key }));
      angle = a2;
    }
    return g;
  }
  function histogram(entries) {
    const width = 300, height = 110, pad = 18;
    const svg = s("svg", { className: "histogram", viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img", "aria-label": "response time histogram" });
    if (!entries || !entries.length) { svg.appendChild(s("text", { x: 10, y: 20 }, "no completed requests")); return svg; }
    // Buckets are four per decade (10^(k/4) seconds): show the empty ones between the first and the last.
    const step = (v) => Math.round(4 * Math.log10(v));
    const counts = new Map(entries.map((e) => [step(e.Value), e.Count]));
    const first = step(entries[0].Value), last = step(entries[entries.length - 1].Value);
    entries = [];
    for (let k = first; k <= last; k++) entries.push({ Value: Math.pow(10, k / 4), Count: counts.get(k) || 0 });
    const max = Math.max(...entries.map((e) => e.Count));
    const barW = (width - 2 * pad) / entries.length;
    entries.forEach((e, i) => {
      const bh = (height - 2 * pad) * e.Count / max;
      svg.appendChild(s("rect", { x: pad + i * barW + 1, y: height - pad - bh, width: Math.max(barW - 2, 1), height: bh },
        s("title", {}, "\u2264 " + ms(e.Value) + ": " + e.Count)));
    });
    svg.appendChild(s("text", { x: pad, y: height - 4 }, "\u2264 " + ms(entries[0].Value)));
    svg.appendChild(s("text", { x: width - pad, y: height - 4, "text-anchor": "end" }, "\u2264 " + ms(entries[entries.length - 1].Value)));
    svg.appendChild(s("text", { x: pad, y: 12 }, "max " + max));
    return svg;
  }
  function statsPanel(title, kind, stats, hist, minutes, filter) {
    const panel = h("div", { className: "panel", id: "map-detail" }, h("h3", {}, title), h("p", { className: "muted" }, kind));
    if (stats) {
      panel.appendChild(kv([["Requests", String(stats.TotalCount)],
        ["Per minute", (stats.TotalCount / minutes).toFixed(1)],
        ["Average", ms(stats.TotalCount ? stats.TotalResponseTime / stats.TotalCount : 0)],
        ["OK", String(stats.OkCount)], ["Errors (4xx)", String(stats.ErrorStatistics.OtherCount)],
        ["Throttles (429)", String(stats.ErrorStatistics.ThrottleCount)], ["Faults (5xx)", String(stats.FaultStatistics.TotalCount)]]));
    }
    panel.appendChild(h("h4", {}, "Response time distribution"));
    panel.appendChild(histogram(hist));
    panel.appendChild(h("p", {}, h("a", { href: tracesHref(filter), id: "map-traces-link" }, "Show these traces")));
    return panel;
  }

  async function renderMap() {
    const range = timeWindow();
    const data = await call("graph", range);
    const key = JSON.stringify(data.Services);
    state.refresh = async () => {
      const again = await call("graph", timeWindow());
      if (JSON.stringify(again.Services) !== key) render();
    };
    const services = data.Services;
    clear(view);
    if (!services.length) { view.appendChild(h("div", { className: "panel", id: "map-empty" }, "No traces in this time range.")); return; }
    const firstTime = Math.min(...services.filter((n) => n.StartTime).map((n) => n.StartTime));
    const lastTime = Math.max(...services.filter((n) => n.EndTime).map((n) => n.EndTime));
    const windowSeconds = Number(windowSelect.value);
    const minutes = windowSeconds ? windowSeconds / 60 : Math.max((lastTime - firstTime) / 60, 1);
    const { coords, width, height } = layout(services);
    const byId = new Map(services.map((n) => [n.ReferenceId, n]));
    const svg = s("svg", { className: "map", id: "service-map", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "service map" });
    svg.style.height = Math.min(Math.max(height, 240), 900) + "px";
    const defs = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#aab7b8" })));
    svg.appendChild(defs);
    const side = h("div", {}, h("div", { className: "panel muted", id: "map-detail" }, "Click a node or an edge."));
    const select = (el, panel) => {
      for (const other of svg.querySelectorAll(".selected")) other.classList.remove("selected");
      el.classList.add("selected");
      clear(side);
      side.appendChild(panel);
    };
    const R = 26;
    for (const n of services) {
      for (const e of n.Edges) {
        const a = coords.get(n.ReferenceId), b = coords.get(e.ReferenceId);
        if (!a || !b) continue;
        const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
        const target = byId.get(e.ReferenceId);
        const g = s("g", { className: "edge", "data-source": n.Name, "data-destination": target ? target.Name : "" },
          s("line", { x1: a.x + dx / len * R, y1: a.y + dy / len * R, x2: b.x - dx / len * (R + 4), y2: b.y - dy / len * (R + 4), "marker-end": "url(#arrow)" }),
          s("line", { className: "hit", x1: a.x, y1: a.y, x2: b.x, y2: b.y }),
          s("title", {}, n.Name + " \u2192 " + (target ? target.Name : "?")));
        g.addEventListener("click", () => select(g, statsPanel(n.Name + " \u2192 " + (target ? target.Name : "?"), "edge", e.SummaryStatistics,
          e.ResponseTimeHistogram, minutes, "edge(" + quote(n.Name) + ", " + quote(target ? target.Name : "") + ")")));
        svg.appendChild(g);
      }
    }
    for (const n of services) {
      const c = coords.get(n.ReferenceId);
      const stats = n.SummaryStatistics;
      const avg = stats && stats.TotalCount ? ms(stats.TotalResponseTime / stats.TotalCount) : "";
      const rate = stats ? (stats.TotalCount / minutes).toFixed(1) + "/min" : "";
      const g = s("g", { className: "node", "data-name": n.Name, "data-type": text(n.Type), "data-health": healthColour(stats), tabindex: 0 },
        s("circle", { className: "core", cx: c.x, cy: c.y, r: R - 4, fill: n.Type === "client" ? "#eaeded" : "#fff", stroke: "#d5dbdb" }),
        ring(c.x, c.y, R, stats),
        s("text", { x: c.x, y: c.y + R + 13, "text-anchor": "middle", className: "label" }, n.Name.length > 28 ? n.Name.slice(0, 27) + "\u2026" : n.Name),
        s("text", { x: c.x, y: c.y + R + 25, "text-anchor": "middle", className: "sub" }, [avg, rate].filter(Boolean).join(" \u00b7 ")),
        s("text", { x: c.x, y: c.y + 4, "text-anchor": "middle", className: "sub" }, (n.Type || "").split("::").pop().slice(0, 8)),
        s("title", {}, n.Name + (n.Type ? " (" + n.Type + ")" : "")));
      const filter = n.Type === "client" ? "" : "service(id(name: " + quote(n.Name) + (n.Type ? ", type: " + quote(n.Type) : "") + "))";
      g.addEventListener("click", () => select(g, statsPanel(n.Name, text(n.Type) || "service", stats, n.ResponseTimeHistogram, minutes, filter)));
      svg.appendChild(g);
    }
    const legend = h("div", { className: "legend" }, h("span", {}, h("i", { className: "ok" }), "ok"), h("span", {}, h("i", { className: "error" }), "errors (4xx)"),
      h("span", {}, h("i", { className: "throttle" }), "throttles (429)"), h("span", {}, h("i", { className: "fault" }), "faults (5xx)"),
      h("span", { className: "muted" }, "ring: share of requests; under each node: average response time \u00b7 requests per minute"));
    append(view, [h("div", { className: "map-layout" }, h("div", {}, svg, legend), side)]);
  }

  // ------------------------------------------------------------------ lint
  async function renderLint() {
    const data = await call("lint", {});
    state.refresh = null;
    clear(view);
    view.appendChild(h("p", { className: "muted" }, "What X-Ray would reject (errors) or show degraded (warnings), in the latest " + data.documents_checked + " documents."));
    if (!data.groups.length) view.appendChild(h("div", { className: "panel", id: "lint-clean" }, "Nothing to report."));
    for (const g of data.groups) {
      const list = h("ul", {});
      for (const item of g.items) {
        list.appendChild(h("li", {}, item.trace_id ? h("a", { href: traceHref(item.trace_id) }, item.trace_id) : "(no trace ID)", " ",
          text(item.name), " \u2014 ", h("code", {}, text(item.message))));
      }
      view.appendChild(h("div", { className: "panel lint-group" },
        h("h3", {}, h("span", { className: "sev-" + g.severity }, g.severity), " ", g.cause, h("span", { className: "count" }, " \u00d7 " + g.count)), list));
    }
  }

  // ------------------------------------------------------------------ live updates
  async function poll() {
    try {
      const st = await call("status", {});
      live.classList.add("on");
      statusLine.textContent = st.traces + " trace(s) stored" + (st.stats.last_error ? " \u2014 store: " + st.stats.last_error : "")
        + (st.stats.dropped ? " \u2014 " + st.stats.dropped + " document(s) dropped (queue full)" : "");
      if (state.version !== -1 && st.version !== state.version && state.refresh) {
        state.version = st.version;
        await state.refresh();
      }
      state.version = st.version;
    } catch (err) {
      live.classList.remove("on");
      statusLine.textContent = "the daemon does not answer: " + err.message;
    }
    setTimeout(poll, 1000);
  }
  render().then(poll);
})();
