// System health: components (database, object store, model), load, agents (every 5 s).
import { api, el, num, ago, every } from "./common.js";

const NAMES = { database: "Database", object_store: "Object store", model: "Model" };
// An agent clock further off than this is named: its captured_at times are off as much.
const SKEW_WARN_S = 30;

function clock(skew) {
  if (skew == null) return el("td", { class: "muted" }, "–");
  const off = Math.abs(skew);
  if (off < SKEW_WARN_S) return el("td", {}, "in sync");
  const amount = off >= 3600 ? `${(off / 3600).toFixed(1)} h` : off >= 60 ? `${Math.round(off / 60)} min` : `${Math.round(off)} s`;
  return el("td", { class: "clock-skew", title: "capture times from this agent are off by as much" },
    `${amount} ${skew > 0 ? "ahead" : "behind"}`);
}

async function refresh() {
  // 503 still carries the report: read it without treating it as an error.
  const r = await fetch("/api/health", { credentials: "same-origin" });
  const h = await r.json();
  document.getElementById("components").replaceChildren(...Object.keys(NAMES).map((k) => {
    const c = h[k];
    return el("div", { class: "card component " + c.status },
      el("div", { class: "kpi-label" }, NAMES[k]),
      el("div", { class: "kpi-value" }, el("span", { class: "dot", "aria-hidden": "true" }), c.status === "up" ? "Up" : "Down"),
      el("div", { class: "muted small" }, c.detail + (c.latency_ms != null ? ` · ${c.latency_ms.toFixed(1)} ms` : "")));
  }));
  const m = await api("/api/metrics");
  const facts = [
    ["Predictions stored", num(m.predictions_total)],
    ["Ingest rate", `${m.ingest_rate_per_s.toFixed(1)} / s`],
    ["Uncertain queue", num(m.uncertain_queue)],
    ["Predict requests", num(m.predict.requests)],
    ["Predict busy refusals", num(m.predict.rejected_busy)],
    ["Predict mean time", `${m.predict.mean_ms.toFixed(1)} ms`],
    ["Running / waiting", `${m.predict.running} / ${m.predict.waiting}`],
    ["Server up for", `${Math.round(h.uptime_s / 60)} min (version ${h.version})`],
  ];
  document.getElementById("load").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const cams = m.cameras || [];
  if (cams.length) {
    document.querySelector("#agents tbody").replaceChildren(...cams.map((c) => el("tr", {},
      el("td", {}, c.id),
      el("td", {}, c.fps == null ? "–" : c.fps.toFixed(1)),
      el("td", {}, c.inference_ms == null ? "–" : c.inference_ms.toFixed(1) + " ms"),
      el("td", {}, c.last_seen ? ago(c.last_seen) : "–"),
      clock(c.clock_skew_s))));
  }
}

every(5000, refresh);
