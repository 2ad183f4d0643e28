// Drift page: the latest report (alert banner, per-feature statistics with
// reference vs current histograms) and the drift share of every check.
import { api, chart, el, when } from "/static/common.js";

function fmt(x, d = 3) {
  return typeof x === "number" ? (Math.abs(x) < 0.001 && x !== 0 ? x.toExponential(2) : x.toFixed(d)) : "–";
}

/** A feature's reference (blue) and current (teal) histograms, drawn by the server. */
function histogram(name, f) {
  const holder = el("div", { class: "chart", "data-label": `${name}: reference and current histograms` });
  chart(holder, `/api/metrics/drift/charts/${encodeURIComponent(name)}.svg`).catch((e) => { holder.textContent = e.message; });
  return el("figure", { class: "hist" + (f.drifted ? " drifted" : "") },
    el("figcaption", {}, name, f.drifted ? el("span", { class: "flag defective" }, "drift") : null), holder);
}

async function load() {
  const d = await api("/api/metrics/drift");
  const r = d.report;
  const cfg = d.config;
  const share = document.getElementById("share-chart");
  chart(share, "/api/metrics/drift/charts/share.svg").catch((e) => { share.textContent = e.message; });
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
