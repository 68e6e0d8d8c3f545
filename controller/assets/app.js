// Prescient dashboard: reads /api/v1, redraws on server-sent events. No dependencies.
"use strict";

const API = "/api/v1";
const SVG = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
// `?link=<id>` opens the page with that link's chart (a shareable view).
const state = { selected: params.get("link"), positions: new Map(), names: new Map(), calendar: [] };

// A device by its name (the lab's or the configuration's), else a short id.
const deviceName = (id) => state.names.get(id) || (id.startsWith("of:") ? "of:" + id.slice(3).replace(/^0+/, "") : id);
// A port by its switch's name: `ATLAng:2`.
const portName = (port) => `${deviceName(port.slice(0, port.lastIndexOf(":")))}:${port.slice(port.lastIndexOf(":") + 1)}`;
// A link by its switches' names: `ATLAng:2 → ATLAM5:1`.
const linkName = (id) => id.split(",").map(portName).join(" → ");

const el = (tag, attrs, parent) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
};

function bps(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const units = ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return v.toFixed(v < 10 && i > 0 ? 1 : 0) + " " + units[i];
}

const time = (ns) => new Date(ns / 1e6).toLocaleTimeString();

// The API token, when reads are protected: asked for on the first 401 and kept for this tab
// only (sessionStorage), never in the page's address.
const TOKEN_KEY = "prescient-token";
const token = () => sessionStorage.getItem(TOKEN_KEY);

class Unauthorized extends Error {}

async function get(path) {
  const t = token();
  const r = await fetch(API + path, { headers: t ? { Authorization: "Bearer " + t } : {} });
  if (r.status === 401) throw new Unauthorized(path + ": 401");
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function askToken() {
  const form = document.getElementById("login");
  document.getElementById("login-why").textContent = token()
    ? "The API refused the token; enter the right one."
    : "This controller protects reads; enter its API token.";
  form.hidden = false;
  document.getElementById("token").focus();
  const status = document.getElementById("status");
  status.textContent = "token needed";
  status.className = "status";
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  const value = input.value.trim();
  input.value = "";
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  document.getElementById("login").hidden = true;
  refresh().then(() => { if (liveWanted) live(); });
});

// Colour of a load (fraction of capacity); grey when unknown.
function colour(load) {
  if (load === null) return "#56606c";
  if (load >= 0.8) return "var(--bad)";
  if (load >= 0.5) return "var(--warn)";
  return "var(--ok)";
}

// Deterministic force layout (Fruchterman-Reingold): devices start on a circle, repel each
// other by k²/d, links pull by d²/k, a weak pull keeps the graph centred, and the step size
// cools to nothing, so the same topology is always drawn the same way. k is the spacing the
// drawing area allows for this many devices.
function layout(devices, links) {
  const n = devices.length, W = 800, H = 420, M = 40;
  const pos = new Map();
  devices.forEach((d, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1);
    pos.set(d, { x: W / 2 + 150 * Math.cos(a), y: H / 2 + 150 * Math.sin(a) });
  });
  const k = 0.8 * Math.sqrt(((W - 2 * M) * (H - 2 * M)) / Math.max(n, 1));
  const iterations = 400;
  for (let it = 0; it < iterations; it++) {
    const temp = (W / 8) * (1 - it / iterations) + 1;
    const disp = new Map(devices.map((d) => [d, { x: 0, y: 0 }]));
    for (const a of devices) for (const b of devices) {
      if (a === b) continue;
      const p = pos.get(a), q = pos.get(b);
      const dx = p.x - q.x, dy = p.y - q.y, d = Math.max(1, Math.hypot(dx, dy)), f = (k * k) / d;
      disp.get(a).x += (dx / d) * f; disp.get(a).y += (dy / d) * f;
    }
    for (const l of links) {
      const p = pos.get(l.s), q = pos.get(l.d);
      if (!p || !q || l.s === l.d) continue;
      const dx = q.x - p.x, dy = q.y - p.y, d = Math.max(1, Math.hypot(dx, dy)), f = (d * d) / k;
      disp.get(l.s).x += (dx / d) * f; disp.get(l.s).y += (dy / d) * f;
      disp.get(l.d).x -= (dx / d) * f; disp.get(l.d).y -= (dy / d) * f;
    }
    for (const d of devices) {
      const p = pos.get(d), v = disp.get(d);
      v.x += (W / 2 - p.x) * k / 1000; v.y += (H / 2 - p.y) * k / 1000;
      const len = Math.max(1e-9, Math.hypot(v.x, v.y)), step = Math.min(len, temp);
      p.x = Math.min(W - M, Math.max(M, p.x + (v.x / len) * step));
      p.y = Math.min(H - M + 10, Math.max(M - 10, p.y + (v.y / len) * step));
    }
  }
  return pos;
}

const deviceOf = (port) => port.slice(0, port.lastIndexOf(":"));

// Most switches the graph draws. The layout costs n² per step and a picture of thousands of
// switches shows nothing; beyond this the graph draws the busiest ones and says so.
const MAX_DRAWN = 150;

// The busiest MAX_DRAWN up devices, by the traffic on their links (the forecast peak when there
// is one, else the rate now; ties in id order, so the choice is stable), with the links between
// them and their hosts; everything when there are fewer.
function busiest(devices, links, hosts) {
  const up = devices.filter((d) => d.up);
  if (up.length <= MAX_DRAWN) return { devices, links, hosts, note: "" };
  const load = new Map();
  for (const l of links) {
    const v = (l.forecast ? l.forecast.peak_bps : l.rate_bps) || 0;
    for (const d of [deviceOf(l.src), deviceOf(l.dst)]) load.set(d, (load.get(d) || 0) + v);
  }
  const ranked = up.slice().sort((a, b) => (load.get(b.id) || 0) - (load.get(a.id) || 0) || (a.id < b.id ? -1 : 1));
  const keep = new Set(ranked.slice(0, MAX_DRAWN).map((d) => d.id));
  return {
    devices: devices.filter((d) => keep.has(d.id)),
    links: links.filter((l) => keep.has(deviceOf(l.src)) && keep.has(deviceOf(l.dst))),
    hosts: hosts.filter((h) => keep.has(deviceOf(h.at))),
    note: `drawing the ${MAX_DRAWN} busiest of ${up.length} devices (by traffic on their links)`,
  };
}

function drawGraph(devices, links, hosts) {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const ids = devices.filter((d) => d.up).map((d) => d.id);
  state.names = new Map(devices.filter((d) => d.name).map((d) => [d.id, d.name]));
  const pos = layout(ids, links.map((l) => ({ s: deviceOf(l.src), d: deviceOf(l.dst) })));
  state.positions = pos;
  for (const l of links) {
    const p = pos.get(deviceOf(l.src)), q = pos.get(deviceOf(l.dst));
    if (!p || !q) continue;
    // Offset the two directions of a cable so both stay clickable.
    const dx = q.x - p.x, dy = q.y - p.y, len = Math.hypot(dx, dy) || 1;
    const ox = (-dy / len) * 4, oy = (dx / len) * 4;
    const fc = l.forecast && l.capacity_bps > 0 ? l.forecast.peak_bps / l.capacity_bps : null;
    const at = { x1: p.x + ox, y1: p.y + oy, x2: q.x + ox, y2: q.y + oy };
    // Halo: the forecast peak; stroke: the utilisation now. A link about to get busy glows
    // amber or red around a green core before it turns.
    if (fc !== null) el("line", { ...at, stroke: colour(fc), class: "halo", "data-forecast": fc.toFixed(3) }, svg);
    const line = el("line", {
      ...at, stroke: colour(l.utilisation),
      class: "link" + (l.forecast && l.forecast.hot ? " hot" : "") + (state.selected === l.id ? " selected" : ""),
      "data-link": l.id,
    }, svg);
    const t = el("title", {}, line);
    t.textContent = `${linkName(l.id)}\nrate ${bps(l.rate_bps)} / ${bps(l.capacity_bps)}\nreserved ${bps(l.reserved_bps)}\nforecast peak ${l.forecast ? bps(l.forecast.peak_bps) : "–"}`;
    line.addEventListener("click", () => { state.selected = l.id; refresh(); });
  }
  hosts.forEach((h, i) => {
    const p = pos.get(deviceOf(h.at));
    if (!p) return;
    const a = (i * 2.4) % (2 * Math.PI);
    const hx = p.x + 34 * Math.cos(a), hy = p.y + 34 * Math.sin(a);
    el("line", { x1: p.x, y1: p.y, x2: hx, y2: hy, class: "attach" }, svg);
    el("circle", { cx: hx, cy: hy, r: 5, class: "host" }, svg);
    // Label on the far side from the switch, so it never covers the switch's own label.
    const left = Math.cos(a) < 0;
    const t = el("text", { x: left ? hx - 7 : hx + 7, y: hy + 3, class: "label", "text-anchor": left ? "end" : "start" }, svg);
    t.textContent = h.ips[0] || h.mac.slice(-5);
  });
  for (const id of ids) {
    const p = pos.get(id);
    el("circle", { cx: p.x, cy: p.y, r: 14, class: "node" }, svg);
    const t = el("text", { x: p.x, y: p.y + 26, class: "label", "text-anchor": "middle" }, svg);
    t.textContent = deviceName(id);
  }
  // The layout keeps switches inside 800 x 420, but hosts and labels reach past it: the view
  // grows to everything drawn, so nothing is cut, and the SVG scales it whole at any size.
  const b = svg.getBBox(), pad = 6;
  const x0 = Math.min(0, b.x - pad), y0 = Math.min(0, b.y - pad);
  const x1 = Math.max(800, b.x + b.width + pad), y1 = Math.max(420, b.y + b.height + pad);
  svg.setAttribute("viewBox", `${x0} ${y0} ${x1 - x0} ${y1 - y0}`);
}

// The scheduled events concerning link `id` (scoped to it, or to everything), as the spans of
// their occurrences within [x0, x1] ns: [{name, from, to}].
function eventSpans(id, x0, x1) {
  const out = [];
  for (const e of state.calendar) {
    if (!(e.scope.kind === "all" || (e.scope.kind === "link" && e.scope.link === id))) continue;
    const len = e.end_secs - e.start_secs, every = e.every_secs || 0;
    let k = every ? Math.max(0, Math.floor((x0 / 1e9 - e.end_secs) / every) + 1) : 0;
    for (let n = 0; n < 64; n++, k++) {
      const a = (e.start_secs + k * every) * 1e9, b = a + len * 1e9;
      // Past x1, or past the last start a repeating event may have (its until_secs).
      if (a > x1 || (e.until_secs !== undefined && a > e.until_secs * 1e9)) break;
      if (b > x0) out.push({ name: e.name, from: Math.max(a, x0), to: Math.min(b, x1) });
      if (!every) break;
    }
  }
  return out;
}

function drawChart(f) {
  const svg = document.getElementById("chart");
  svg.replaceChildren();
  const W = 800, H = 260, L = 60, R = 10, T = 10, B = 24;
  const pts = [];
  for (const p of f.history) if (p.value !== null) pts.push([p.at_ns, p.value]);
  const past = f.past_forecasts, ahead = f.forecast;
  const all = [...past, ...ahead];
  const xs = [...pts.map((p) => p[0]), ...all.map((p) => p.at_ns)];
  const ys = [...pts.map((p) => p[1]), ...all.flatMap((p) => [p.value, p.hi95, p.lo95].filter((v) => v !== null))];
  if (xs.length === 0) return;
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(1, ...ys) * 1.05;
  const sx = (x) => L + ((x - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - (y / y1) * (H - T - B);
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = (y1 * i) / 4, t = el("text", { x: 2, y: sy(v) + 3, class: "tick" }, svg);
    t.textContent = bps(v);
  }
  const tl = el("text", { x: L, y: H - 6, class: "tick" }, svg); tl.textContent = time(x0);
  const tr = el("text", { x: W - R - 60, y: H - 6, class: "tick" }, svg); tr.textContent = time(x1);
  // Scheduled events shade the time they cover, under the lines.
  for (const span of eventSpans(state.selected, x0, x1)) {
    const r = el("rect", {
      x: sx(span.from), y: T, width: Math.max(1, sx(span.to) - sx(span.from)), height: H - T - B,
      class: "event", "data-event": span.name,
    }, svg);
    el("title", {}, r).textContent = "event " + span.name;
    const t = el("text", { x: sx(span.from) + 3, y: T + 11, class: "tick" }, svg);
    t.textContent = span.name;
  }
  const band = (ps) => {
    const b = ps.filter((p) => p.lo95 !== null && p.hi95 !== null);
    if (b.length < 2) return;
    const up = b.map((p) => `${sx(p.at_ns)},${sy(p.hi95)}`);
    const down = b.slice().reverse().map((p) => `${sx(p.at_ns)},${sy(p.lo95)}`);
    el("polygon", { points: [...up, ...down].join(" "), class: "band" }, svg);
  };
  band(past); band(ahead);
  const path = (ps) => ps.map((p, i) => (i ? "L" : "M") + sx(p[0]) + "," + sy(p[1])).join("");
  if (past.length) el("path", { d: path(past.map((p) => [p.at_ns, p.value])), class: "fcline" }, svg);
  if (ahead.length) el("path", { d: path(ahead.map((p) => [p.at_ns, p.value])), class: "fcline" }, svg);
  if (pts.length) el("path", { d: path(pts), class: "actual" }, svg);
  const now = pts.length ? pts[pts.length - 1][0] : x0;
  el("line", { x1: sx(now), y1: T, x2: sx(now), y2: H - B, class: "axis" }, svg);
  document.getElementById("chart-model").textContent =
    `model ${f.model} · MAE ${bps(f.error.mae_bps)} · 95 % coverage ${f.error.coverage_95 === null ? "–" : (100 * f.error.coverage_95).toFixed(0) + " %"}`;
}

function rows(id, items, cells) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const it of items) {
    const tr = document.createElement("tr");
    for (const c of cells(it)) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

// Prometheus text -> [{name, labels, value}] (enough of format 0.0.4 for our own page).
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const secs = (s) => (s === null ? "–" : s < 1e-3 ? (s * 1e6).toFixed(0) + " µs" : s < 1 ? (s * 1e3).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(1) + " s");

// Messages per second by type, devices by protocol, and write latency per protocol.
async function refreshSouthbound() {
  const t = token();
  const r = await fetch("/metrics", { headers: t ? { Authorization: "Bearer " + t } : {} });
  if (r.status === 401) throw new Unauthorized("/metrics: 401");
  if (!r.ok) return;
  const ms = parseMetrics(await r.text());
  const pick = (name) => ms.filter((m) => m.name === name);
  const totals = new Map(pick("prescient_southbound_messages_total").map((m) => [m.labels.type, m.value]));
  const rates = pick("prescient_southbound_messages_per_second").sort((a, b) => b.value - a.value);
  rows("messages", rates, (m) => [m.labels.type, m.value.toFixed(1), totals.get(m.labels.type) ?? "–"]);
  const devices = new Map(pick("prescient_devices_connected").map((m) => [m.labels.protocol, m.value]));
  const protocols = [...devices.keys()];
  rows("writes", protocols, (p) => {
    const h = pick("prescient_southbound_write_seconds_bucket").filter((m) => m.labels.protocol === p);
    const count = pick("prescient_southbound_write_seconds_count").find((m) => m.labels.protocol === p)?.value ?? 0;
    const sum = pick("prescient_southbound_write_seconds_sum").find((m) => m.labels.protocol === p)?.value ?? 0;
    // Upper bound of the bucket holding the q-quantile: what a histogram can honestly tell.
    const bound = (q) => {
      if (!count) return null;
      const b = h.find((m) => m.value >= Math.ceil(q * count));
      return b ? (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)) : null;
    };
    const p99 = bound(0.99);
    return [p, devices.get(p), count, count ? secs(sum / count) : "–", p99 === null ? "–" : p99 === Infinity ? "> 5 s" : "≤ " + secs(p99)];
  });
}

async function refresh() {
  try {
    const [devices, links, hosts, res, anomalies, decisions] = await Promise.all([
      get("/devices"), get("/links"), get("/hosts"), get("/reservations"), get("/anomalies"), get("/decisions"),
    ]);
    const shown = busiest(devices, links, hosts);
    drawGraph(shown.devices, shown.links, shown.hosts);
    state.names = new Map(devices.filter((d) => d.name).map((d) => [d.id, d.name]));
    document.getElementById("summary").textContent =
      `${devices.filter((d) => d.up).length} devices · ${links.length} links · ${hosts.length} hosts · ${res.length} reservations` +
      (shown.note ? ` · ${shown.note}` : "");
    rows("reservations", res, (r) => [r.id, `${deviceName(r.src)} → ${deviceName(r.dst)}`, bps(r.rate_bps), r.tier, r.path.length]);
    rows("anomalies", anomalies.slice(-20).reverse(), (a) => [
      time(a.at_ns), a.series, bps(a.actual_bps), `${bps(a.expected_bps)} [${bps(a.lower_bps)}, ${bps(a.upper_bps)}]`,
    ]);
    rows("decisions", decisions.slice(-30).reverse(), (d) => [d.id, time(d.at_ns), d.rule, d.subject, d.reason, d.actions.join("; ")]);
    if (state.selected) {
      document.getElementById("chart-title").textContent = linkName(state.selected);
      try { drawChart(await get("/forecasts/links/" + encodeURIComponent(state.selected))); }
      catch (e) {
        if (e instanceof Unauthorized) throw e;
        document.getElementById("chart").replaceChildren();
        document.getElementById("chart-model").textContent = "no forecast yet";
      }
    }
    await refreshSouthbound();
  } catch (e) {
    if (e instanceof Unauthorized) { askToken(); return; }
    document.getElementById("status").textContent = "error: " + e.message;
  }
}

// Redraws follow events, but never take more than about a fifth of the time: on a network of
// thousands of switches one refresh reads megabytes, so the pause grows with what it cost.
let pending = null, lastCost = 0;
function soon() {
  if (pending) return;
  pending = setTimeout(async () => {
    const t = performance.now();
    await refresh();
    lastCost = performance.now() - t;
    pending = null;
  }, Math.max(300, 4 * lastCost));
}

let events = null;
function live() {
  if (events) events.close();
  const status = document.getElementById("status");
  // EventSource cannot send headers: the token travels as `access_token`, which the API
  // accepts on this one endpoint only.
  const t = token();
  const es = new EventSource(API + "/events" + (t ? "?access_token=" + encodeURIComponent(t) : ""));
  events = es;
  es.addEventListener("hello", () => { status.textContent = "live"; status.className = "status live"; });
  // `lagged`: the stream dropped events for us; a refresh catches up all the same.
  for (const kind of ["topology", "tick", "decision", "anomaly", "lagged"]) es.addEventListener(kind, soon);
  es.onerror = () => {
    status.textContent = "reconnecting…"; status.className = "status";
    // A refused stream (401) looks like any other error here; a refresh finds out and asks.
    soon();
  };
}

// `?live=0` leaves the event stream closed: a page with an open stream never goes idle, which
// some headless renderers wait for.
const liveWanted = params.get("live") !== "0";
refresh().then(() => { if (liveWanted && document.getElementById("login").hidden) live(); });

// Services: each VIP with its instances (and how their addresses were leased), the shadow
// addresses reserved ahead of a predicted scale-out, the translations programmed, the calls
// made to the orchestrator, the tenant pools with their leases and the scheduled events. Refreshed on its own so the tables above never wait for it.
async function refreshServices() {
  try {
    const [services, translations, hooks, pools, calendar, tenants] = await Promise.all([
      get("/services"), get("/translations"), get("/hooks"), get("/pools"), get("/calendar"), get("/tenants"),
    ]);
    const word = (s) => s.replace(/_/g, "-");
    rows("services", services, (s) => [
      s.name, s.tenant, s.vip,
      s.backends.map((b) => `${b.ip} (${word(b.lease)})`).join(", ") || "–",
      s.shadows.join(", ") || "–",
      s.demand ? bps(s.demand.upper95_bps) : "–",
      `${s.needed_instances ?? "–"} of ${s.min_instances}..${s.max_instances}`,
    ]);
    rows("translations", translations, (t) => [
      t.service, `${t.logical_ip} ← ${t.physical_ip}`, t.physical_mac ?? "– (no instance yet)", word(t.kind), t.devices,
    ]);
    const calls = hooks.pending.map((c) => [c.key, word(c.action), c.delta, "pending", "–"])
      .concat(hooks.recent.slice(-10).reverse().map((r) => [r.key, word(r.action), "", word(r.status), r.attempts]));
    rows("hooks", calls, (c) => c);
    rows("tenants", tenants, (t) => [t.name, t.pools.join(", ") || "–", t.services.join(", ") || "–", t.addresses]);
    rows("pools", pools, (p) => [
      p.tenant, p.network, p.free,
      p.leases.map((l) => `${l.ip} (${word(l.kind)}, ${l.age_secs} s${l.host ? ", " + l.host : ""})`).join(", ") || "–",
    ]);
    state.calendar = calendar;
    const when = (s) => new Date(s * 1000).toISOString().replace("T", " ").slice(0, 16);
    // Only the scope's own kind is worded: linkName throws on the link a non-link scope lacks.
    const scope = (s) => ({
      all: () => "everything", service: () => s.service, pair: () => `${s.src} → ${s.dst}`,
      link: () => "link " + linkName(s.link),
    })[s.kind]?.() ?? s.kind;
    rows("calendar", calendar, (e) => [
      e.name, scope(e.scope),
      when(e.start_secs) + (e.every_secs ? ` (every ${e.every_secs} s` +
        (e.until_secs !== undefined ? `, last ${when(e.until_secs)})` : ")") : ""), when(e.end_secs),
      e.effect.multiplier !== undefined ? `×${e.effect.multiplier}` : bps(e.effect.absolute_bps),
    ]);
  } catch (e) {
    // The main refresh reports errors (and asks for a token); nothing to add here.
  }
}
refreshServices();
if (new URLSearchParams(location.search).get("live") !== "0") setInterval(refreshServices, 2000);

// Cluster mode: leader, term and members' health on one line (hidden on a single process).
async function refreshCluster() {
  try {
    const c = await get("/cluster");
    const line = document.getElementById("cluster");
    if (!c.node) { line.hidden = true; return; }
    const members = c.members.map((m) => m.name + (m.healthy ? "" : " (down)")).join(", ");
    line.textContent = "cluster: node " + c.node + ", leader " + (c.leader ?? "none") + ", term " + c.term + " · " + members;
    line.hidden = false;
  } catch (e) {
    // The main refresh reports errors.
  }
}
refreshCluster();
if (new URLSearchParams(location.search).get("live") !== "0") setInterval(refreshCluster, 2000);

// What acting on forecasts was worth on the live series: the controller's plans against what
// came, next to the policies `prescient evaluate` compares.
async function refreshEvaluation() {
  try {
    const e = await get("/evaluation");
    const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)} %`);
    const lines = [];
    for (const [kind, c] of [["pairs", e.pairs], ["links", e.links]]) {
      for (const p of c.policies) {
        lines.push([
          `${kind} (${c.series_count}, ${c.scored_intervals} intervals, target ${pct(c.violation_target)})`,
          p.policy === "predictive" ? "predictive (held)" : p.policy,
          pct(p.under_provisioned), pct(p.over_provisioning), pct(p.over_provisioning_at_target), bps(p.unserved), p.changes,
        ]);
      }
    }
    rows("evaluation", lines, (l) => l);
  } catch (e) {
    // The main refresh reports errors (and asks for a token); nothing to add here.
  }
}
refreshEvaluation();
if (new URLSearchParams(location.search).get("live") !== "0") setInterval(refreshEvaluation, 5000);
