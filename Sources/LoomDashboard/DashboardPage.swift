/// The dashboard's single page: HTML, CSS and JavaScript compiled into the binary (no CDN, no
/// file read at run time). It routes on the URL's fragment (`#/`, `#/study/<id>`,
/// `#/study/<id>/trial/<n>`, `#/fabric`), fetches the JSON views of `DashboardRoutes`, and fetches
/// again whenever the `/ws` WebSocket says the state changed (polling every second when the
/// WebSocket cannot connect). A `?token=` in the page's URL is sent with every request.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hyperloom</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
#live{margin-left:auto;font-size:12px;opacity:.85}
main{padding:12px 16px}
table{border-collapse:collapse;background:#fff;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-variant-numeric:tabular-nums}
th.sort{cursor:pointer;text-decoration:underline dotted}
.st-running{color:#1d4ed8}.st-complete{color:#15803d}.st-failed{color:#b91c1c}.st-pruned,.st-paused{color:#a16207}
.h-lost{color:#b91c1c}.h-slow{color:#a16207}.h-left{color:#666}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #ddd;padding:8px 12px}
.card b{display:block;font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:8px}.charts figure{margin:0;background:#fff;border:1px solid #ddd;padding:4px;max-width:640px}
.charts svg{max-width:100%;height:auto}
#log{background:#111;color:#ddd;font:12px/1.3 monospace;padding:8px;height:320px;overflow:auto;white-space:pre-wrap}
.err{color:#b91c1c}
</style></head>
<body>
<header><a href="#/">Studies</a><a href="#/fabric">Fabric</a><span id="live">connecting…</span></header>
<main id="main">loading…</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = (o) => { const p = new URLSearchParams(o); if (token) p.set("token", token); return p.toString(); };
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const num = (x) => x == null ? "–" : (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : +x.toPrecision(6));
const api = async (path, o = {}) => { const r = await fetch(path + "?" + q(o)); const j = await r.json(); if (!r.ok) throw new Error(j.error || r.status); return j; };
let view = {sort: "number", desc: false, state: "", offset: 0, logsAfter: 0, logKey: "", chartsAt: 0};
let busy = false, again = false;

function route() { const h = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent); return h; }

let lastRender = 0, timer = null;
// At most one render every 400 ms: a feed of hundreds of events/s pushes 5 changes a second.
function schedule() {
  if (timer) return;
  timer = setTimeout(() => { timer = null; render(); }, Math.max(0, 400 - (Date.now() - lastRender)));
}

async function render() {
  if (busy) { again = true; return; }
  busy = true;
  lastRender = Date.now();
  try {
    const r = route();
    if (r[0] === "fabric") await fabric();
    else if (r[0] === "study" && r[2] === "trial") await trial(r[1], +r[3]);
    else if (r[0] === "study") await study(r[1]);
    else await studies();
  } catch (e) { document.getElementById("main").innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  busy = false;
  if (again) { again = false; render(); }
}

async function studies() {
  const d = await api("/api/studies");
  const rows = d.studies.map(s => {
    const progress = s.max_trials ? `${s.finished}/${s.max_trials}` : `${s.finished}/${s.trials}`;
    const counts = Object.entries(s.counts).map(([k, v]) => `<span class="st-${k}">${k} ${v}</span>`).join(" ");
    return `<tr><td><a href="#/study/${encodeURIComponent(s.id)}">${esc(s.id)}</a></td><td>${esc(s.state)}</td><td>${progress}</td>
      <td>${s.best ? num(s.best.value) + " (trial " + s.best.trial + ")" : "–"}</td><td>${s.trials_per_s ? s.trials_per_s.toFixed(2) : "–"}</td>
      <td>${esc(s.metric ?? "")} ${esc(s.mode ?? "")}</td><td>${counts}</td></tr>`;
  }).join("");
  document.getElementById("main").innerHTML = `<h2>Studies</h2>
    <table id="studies"><tr><th>study</th><th>state</th><th>progress</th><th>best</th><th>trials/s</th><th>metric</th><th>trials by state</th></tr>${rows}</table>
    ${d.studies.length ? "" : "<p>No study on the feed yet.</p>"}`;
}

async function study(id) {
  const d = await api("/api/study", {id, sort: view.sort, desc: view.desc ? 1 : 0, state: view.state, offset: view.offset, limit: 100});
  const s = d.study;
  const params = d.parameters.map(p => `<tr><td>${esc(p.name)}</td><td>${p.values ? esc(p.values.join(", ")) : num(p.min) + " … " + num(p.max)}</td></tr>`).join("");
  const pnames = d.parameters.map(p => p.name).slice(0, 6);
  const head = ["number", "state", "value", "attempts"].concat(pnames).map(k => `<th class="sort" data-k="${esc(k)}">${esc(k)}${view.sort === k ? (view.desc ? " ▼" : " ▲") : ""}</th>`).join("") + "<th>worker</th><th>reports</th>";
  const rows = d.trials.map(t => `<tr><td><a href="#/study/${encodeURIComponent(id)}/trial/${t.number}">${t.number}</a></td>
    <td class="st-${t.state}">${t.state}</td><td>${num(t.value)}</td><td>${t.attempts}</td>
    ${pnames.map(n => `<td>${typeof t.config[n] === "number" ? num(t.config[n]) : esc(t.config[n])}</td>`).join("")}
    <td>${esc(t.worker ?? "")}</td><td>${t.reports}</td></tr>`).join("");
  const states = ["", "waiting", "running", "complete", "failed", "pruned", "paused", "cancelled"];
  const counts = Object.entries(s.counts || {}).map(([k, v]) => `<div class="card"><span class="st-${k}">${k}</span><b>${v}</b></div>`).join("");
  const rungs = s.rungs ? `<h3>Rungs and promotions</h3><pre>${esc(JSON.stringify(s.rungs, null, 1))}</pre>` : "";
  document.getElementById("main").innerHTML = `<h2>${esc(id)} <small>${esc(s.state ?? "")}</small></h2>
    <div class="cards"><div class="card">trials<b id="trial-count">${d.total}</b></div>
    <div class="card">best ${esc(s.metric ?? "")}<b>${s.best ? num(s.best.value) : "–"}</b></div>
    <div class="card">trials/s<b>${s.trials_per_s ? s.trials_per_s.toFixed(2) : "–"}</b></div>${counts}</div>
    <h3>Charts</h3><div class="charts" id="charts">${view.chartsHTML && view.chartsFor === id ? view.chartsHTML : "…"}</div>
    ${rungs}
    <h3>Parameter ranges</h3><table>${params}</table>
    <h3>Trials <select id="state">${states.map(x => `<option value="${x}" ${x === view.state ? "selected" : ""}>${x || "every state"}</option>`).join("")}</select>
    <small>${d.matching} matching, rows ${d.matching ? view.offset + 1 : 0}–${view.offset + d.trials.length}</small>
    <button id="prev">◀</button><button id="next">▶</button></h3>
    <table id="trials"><tr>${head}</tr>${rows}</table>`;
  document.querySelectorAll("th.sort").forEach(th => th.onclick = () => { const k = th.dataset.k; view.desc = view.sort === k ? !view.desc : false; view.sort = k; render(); });
  document.getElementById("state").onchange = (e) => { view.state = e.target.value; view.offset = 0; render(); };
  document.getElementById("prev").onclick = () => { view.offset = Math.max(0, view.offset - 100); render(); };
  document.getElementById("next").onclick = () => { if (view.offset + 100 < d.matching) { view.offset += 100; render(); } };
  if (Date.now() - view.chartsAt > 2000 || view.chartsFor !== id) {
    view.chartsAt = Date.now(); view.chartsFor = id;
    api("/api/charts", {id}).then(c => {
      view.chartsHTML = (c.note ? `<p>${esc(c.note)}</p>` : "") + c.charts.map(p => `<figure>${p.svg}</figure>`).join("");
      const el = document.getElementById("charts"); if (el) el.innerHTML = view.chartsHTML;
    }).catch(() => {});
  }
}

function curveSVG(points) {
  if (!points.length) return "<p>No report of the metric yet.</p>";
  const W = 480, H = 200, P = 30;
  const xs = points.map(p => p.x), ys = points.map(p => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = x => P + (x1 > x0 ? (x - x0) / (x1 - x0) : .5) * (W - 2 * P), sy = y => H - P - (y1 > y0 ? (y - y0) / (y1 - y0) : .5) * (H - 2 * P);
  const byAttempt = {}; points.forEach(p => (byAttempt[p.attempt] ??= []).push(p));
  const lines = Object.values(byAttempt).map((ps, i) => `<polyline fill="none" stroke="${["#1d4ed8", "#b91c1c", "#15803d", "#a16207"][i % 4]}" stroke-width="2" points="${ps.map(p => sx(p.x) + "," + sy(p.y)).join(" ")}"/>`).join("");
  return `<svg id="curve" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" style="background:#fff;border:1px solid #ddd">${lines}
    <text x="${P}" y="12" font-size="11">${num(y1)}</text><text x="${P}" y="${H - 4}" font-size="11">${num(y0)} · ${num(x0)} … ${num(x1)}</text></svg>`;
}

async function trial(id, n) {
  const key = id + "/" + n;
  if (view.logKey !== key) { view.logKey = key; view.logsAfter = 0; view.logText = ""; }
  const t = await api("/api/trial", {study: id, trial: n, logs_after: view.logsAfter});
  for (const l of t.logs) { view.logText += `[${l.attempt} ${l.stream}] ${l.text}\n`; view.logsAfter = l.index; }
  const attempts = t.attempts.map(a => `<tr><td>${a.attempt}${a.backup ? " (backup)" : ""}</td><td>${esc(a.state)}</td><td>${esc(a.worker ?? "")}</td>
    <td>${esc(a.lease ?? "")}</td><td>${a.started_at ? new Date(a.started_at * 1000).toLocaleTimeString() : ""}</td>
    <td>${a.ended_at ? new Date(a.ended_at * 1000).toLocaleTimeString() : ""}</td><td>${esc(a.detail ?? "")}</td></tr>`).join("");
  const cps = t.checkpoints.map(c => `<tr><td>${c.attempt}</td><td>${c.update_seq}</td><td>${new Date(c.time * 1000).toLocaleTimeString()}</td><td>${esc(JSON.stringify(c.payload))}</td></tr>`).join("");
  const log = document.getElementById("log");
  const stick = !log || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  document.getElementById("main").innerHTML = `<h2><a href="#/study/${encodeURIComponent(id)}">${esc(id)}</a> / trial ${n} <small class="st-${t.state}">${t.state}</small></h2>
    <div class="cards"><div class="card">${esc(t.metric ?? "value")}<b>${num(t.value)}</b></div><div class="card">attempts<b>${t.attempts.length}</b></div>
    <div class="card">log lines<b id="log-count">${t.log_count}</b></div></div>
    ${t.reason ? `<p>${esc(t.reason)}</p>` : ""}
    <h3>Config</h3><pre>${esc(JSON.stringify(t.config, null, 1))}</pre>
    <h3>Learning curve <small>${esc(t.metric ?? "")} by ${esc(t.resource ?? "report")}</small></h3>${curveSVG(t.curve)}
    <h3>Attempts</h3><table><tr><th>attempt</th><th>state</th><th>worker</th><th>lease</th><th>started</th><th>ended</th><th>detail</th></tr>${attempts}</table>
    <h3>Checkpoints</h3><table><tr><th>attempt</th><th>update</th><th>time</th><th>payload</th></tr>${cps}</table>
    <h3>Log (live)</h3><div id="log"></div>`;
  const el = document.getElementById("log"); el.textContent = view.logText; if (stick) el.scrollTop = el.scrollHeight;
}

async function fabric() {
  const d = await api("/api/fabric");
  const health = Object.entries(d.health).map(([k, v]) => `<div class="card"><span class="h-${k}">${k}</span><b>${v}</b></div>`).join("");
  const workers = d.workers.map(w => `<tr><td>${esc(w.id)}</td><td>${esc(w.host ?? "")}</td><td class="h-${w.health}">${w.health}${w.lateness_ms != null ? " (" + w.lateness_ms + " ms late)" : ""}</td>
    <td>${w.slots}</td><td>${w.gpus}</td><td>${w.running.map(r => `<a href="#/study/${encodeURIComponent(r.job.replace(/\/\d+$/, ""))}/trial/${r.job.split("/").pop()}">${esc(r.job)}</a> #${r.attempt}`).join(", ")}</td></tr>`).join("");
  const strag = d.stragglers.map(s => `<tr><td>${new Date(s.time * 1000).toLocaleTimeString()}</td><td>${esc(s.job)}</td><td>${s.event}</td><td>${esc(s.detail)}</td></tr>`).join("");
  document.getElementById("main").innerHTML = `<h2>Fabric</h2>
    <div class="cards">${health}<div class="card">slots<b>${d.slots}</b></div><div class="card">GPUs<b>${d.gpus}</b></div>
    <div class="card">queue depth<b>${d.queue_depth}</b></div><div class="card">leases<b>${d.leases}</b></div><div class="card">feed position<b>${d.position}</b></div></div>
    <h3>Workers</h3><table id="workers"><tr><th>worker</th><th>host</th><th>health</th><th>slots</th><th>GPUs</th><th>running attempts</th></tr>${workers}</table>
    <h3>Stragglers</h3><table><tr><th>time</th><th>job</th><th>event</th><th>detail</th></tr>${strag}</table>
    ${d.broker ? `<details><summary>The broker's status</summary><pre>${esc(JSON.stringify(d.broker, null, 1))}</pre></details>` : ""}`;
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?" + q({}));
  ws.onmessage = (m) => { const d = JSON.parse(m.data); document.getElementById("live").textContent = "live · feed seq " + d.position; schedule(); };
  ws.onclose = () => { document.getElementById("live").textContent = "reconnecting…"; setTimeout(connect, 1000); };
}
window.onhashchange = () => { view.offset = 0; render(); };
render();
if ("WebSocket" in window) connect(); else setInterval(render, 1000);
</script></body></html>
"""#
}
