// Overview: today's figures, the cameras, the latest defects (refreshed every 3 s).
import { api, el, chip, pct, num, when, ago, every } from "./common.js";

function camerasTable(tbody, cameras) {
  if (!cameras.length) return;
  tbody.replaceChildren(...cameras.map((c) => el("tr", {},
    el("td", {}, c.id),
    el("td", {}, c.fps == null ? "–" : c.fps.toFixed(1)),
    el("td", {}, c.inference_ms == null ? "–" : c.inference_ms.toFixed(1) + " ms"),
    el("td", {}, c.last_seen ? ago(c.last_seen) : "–"))));
}

const seen = new Set();

async function refresh() {
  const m = await api("/api/metrics");
  document.getElementById("k-today").textContent = num(m.predictions_today);
  document.getElementById("k-rate").textContent = pct(m.defect_rate_today);
  document.getElementById("k-queue").textContent = num(m.uncertain_queue);
  document.getElementById("k-total").textContent = num(m.predictions_total);
  camerasTable(document.querySelector("#cameras tbody"), m.cameras || []);

  const logs = await api("/api/inspection-logs?defective=true&limit=8");
  const box = document.getElementById("latest");
  if (!logs.items.length) return;
  box.replaceChildren(...logs.items.map((p) => {
    const fresh = !seen.has(p.id);
    seen.add(p.id);
    const img = p.frame_key
      ? el("img", { src: `/api/inspection-logs/${p.id}/frame?boxes=true`, alt: `frame of ${p.camera_id}`, loading: "lazy" })
      : el("div", { class: "noframe" }, "no frame kept");
    return el("a", { class: "thumb" + (fresh ? " appear" : ""), href: `/inspections#${p.id}` },
      img,
      el("div", { class: "thumb-caption" },
        el("span", {}, `${p.camera_id} · ${when(p.captured_at)}`),
        el("span", {}, p.detections.slice(0, 3).map((d) => chip(d)))));
  }));
}

every(3000, refresh);
