// Drift page: the latest report (alert banner, per-feature statistics with
// reference vs current histograms) and the drift share of every check.
import { api, el, when } from "/static/common.js";

const SVG = "http://www.w3.org/2000/svg";

function svgEl(parent, tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  parent.append(e);
  return e;
}

function fmt(x, d = 3) {
  return typeof x === "number" ? (Math.abs(x) < 0.001 && x !== 0 ? x.toExponential(2) : x.toFixed(d)) : "–";
}

/** Reference (blue) and current (teal) shares per bin, side by side. */
function histogram(name, f) {
  const W = 300, H = 120, B = 18;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${name}: reference and current histograms`);
  const h = f.histogram;
  const n = h.reference.length;
  const top = Math.max(...h.reference, ...h.current, 0.01);
  const bw = (W - 10) / n;
  for (let i = 0; i < n; i++) {
    for (const [k, v, color] of [[0, h.reference[i], "#2E5266"], [1, h.current[i], "#3E9A96"]]) {
      const bh = (H - B - 6) * v / top;
      svgEl(svg, "rect", { x: 5 + i * bw + k * bw / 2, y: H - B - bh, width: bw / 2 - 1, height: bh, fill: color, opacity: k ? 0.85 : 0.7 });
    }
  }
  svgEl(svg, "text", { x: 5, y: H - 4, class: "tick" }, fmt(h.edges[0], 2));
  svgEl(svg, "text", { x: W - 5, y: H - 4, "text-anchor": "end", class: "tick" }, fmt(h.edges[h.edges.length - 1], 2));
  return el("figure", { class: "hist" + (f.drifted ? " drifted" : "") },
    el("figcaption", {}, name, f.drifted ? el("span", { class: "flag defective" }, "drift") : null), svg);
}

function shareChart(history, threshold) {
  const svg = document.getElementById("share-chart");
  svg.replaceChildren();
  const W = 720, H = 200, L = 40, R = 10, T = 10, B = 24;
  const x = i => L + (history.length <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (history.length - 1));
  const y = v => T + (H - T - B) * (1 - v);
  svgEl(svg, "line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  svgEl(svg, "line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  for (const v of [0, 0.5, 1]) svgEl(svg, "text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(1));
  svgEl(svg, "line", { x1: L, y1: y(threshold), x2: W - R, y2: y(threshold), class: "threshold" });
  svgEl(svg, "text", { x: W - R, y: y(threshold) - 4, "text-anchor": "end", class: "tick" }, `threshold ${threshold}`);
  if (history.length === 0) return;
  if (history.length > 1) svgEl(svg, "polyline", { points: history.map((h, i) => `${x(i)},${y(h.drift_share)}`).join(" "), fill: "none", stroke: "#2E5266", "stroke-width": 2 });
  history.forEach((h, i) => {
    const c = svgEl(svg, "circle", { cx: x(i), cy: y(h.drift_share), r: 3.5, fill: h.dataset_drift ? "#e02424" : "#3E9A96" });
    svgEl(c, "title", {}, `${when(h.created_at)}: share ${h.drift_share.toFixed(2)}${h.dataset_drift ? " (drift)" : ""}`);
  });
  svgEl(svg, "text", { x: L, y: H - 6, class: "tick" }, when(history[0].created_at));
  svgEl(svg, "text", { x: W - R, y: H - 6, "text-anchor": "end", class: "tick" }, when(history[history.length - 1].created_at));
}

async function load() {
  const d = await api("/api/metrics/drift");
  const r = d.report;
  const cfg = d.config;
  shareChart(d.history, cfg.share_threshold);
  const alert = document.getElementById("drift-alert");
  if (!r) return;
  document.getElementById("no-report").hidden = true;
  document.getElementById("summary").hidden = false;
  alert.hidden = !r.dataset_drift;
  if (r.dataset_drift) {
    const names = Object.entries(r.features).filter(([, f]) => f.drifted).map(([n]) => n);
    alert.textContent = `Data drift: ${names.join(", ")} changed (drift share ${r.drift_share.toFixed(2)}). Check the cameras and lighting; the retraining policy may start a retraining.`;
  }
  document.getElementById("s-when").textContent = when(r.created_at);
  document.getElementById("s-share").textContent = `${r.drift_share.toFixed(2)} (${Object.values(r.features).filter(f => f.drifted).length} of ${Object.values(r.features).filter(f => f.compared).length} features)`;
  document.getElementById("s-p").textContent = fmt(r.min_p_value, 4);
  document.getElementById("s-ref").textContent = `${r.reference} — ${r.n_reference} rows`;
  document.getElementById("s-cur").textContent = `${r.n_current} frames, ${when(r.window_start)} to ${when(r.window_end)}`;
  document.getElementById("s-rules").textContent =
    `dataset drift when drift share > ${cfg.share_threshold}` + (cfg.dataset_p_value > 0 ? ` or any KS p < ${cfg.dataset_p_value}` : "") +
    `; a feature drifts when KS p < ${cfg.feature_p_value} (windows ≤ 1000 rows) or W/std > ${cfg.wasserstein_threshold}`;
  const body = document.querySelector("#features tbody");
  const hists = document.getElementById("hists");
  body.replaceChildren();
  hists.replaceChildren();
  for (const [name, f] of Object.entries(r.features)) {
    if (!f.compared) {
      body.append(el("tr", {}, el("td", {}, el("b", {}, name)), el("td", { colspan: 7, class: "muted" }, `not compared: ${f.why}`)));
      continue;
    }
    body.append(el("tr", { class: f.drifted ? "drifted" : "" },
      el("td", {}, el("b", {}, name)), el("td", {}, f.method === "ks" ? "KS" : "Wasserstein"),
      el("td", { class: "num" }, fmt(f.statistic)), el("td", { class: "num" }, fmt(f.p_value, 4)),
      el("td", { class: "num" }, fmt(f.wasserstein_norm)), el("td", { class: "num" }, fmt(f.psi)),
      el("td", { class: "num" }, `${fmt(f.reference_mean)} → ${fmt(f.current_mean)}`),
      el("td", {}, f.drifted ? el("span", { class: "flag defective" }, "yes") : "no")));
    hists.append(histogram(name, f));
  }
}

load().catch((e) => { document.getElementById("no-report").textContent = e.message; });
setInterval(() => load().catch(() => {}), 15000);
