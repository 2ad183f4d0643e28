// Inspections: the prediction log with filters, paging, a detail view and the
// CSV of the same filter. New rows appear as the server announces them (SSE).
import { api, el, chip, when } from "./common.js";

const form = document.getElementById("filters");
const tbody = document.querySelector("#log tbody");
const more = document.getElementById("more");
const summary = document.getElementById("summary");
let next = null;
let shown = new Set();

/** The API query of the form's filled fields. */
function query() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (v === "") continue;
    // datetime-local has no zone: it is the browser's local time.
    q.set(k, k === "from" || k === "to" ? new Date(v).toISOString() : v);
  }
  return q;
}

function row(p) {
  const img = p.frame_key
    ? el("img", { src: `/api/inspection-logs/${p.id}/frame?boxes=true`, alt: "frame", loading: "lazy", class: "mini" })
    : el("span", { class: "muted small" }, "—");
  const flags = [];
  if (p.defective) flags.push(el("span", { class: "flag defective" }, "defective"));
  if (p.uncertain) flags.push(el("span", { class: "flag uncertain" }, "uncertain"));
  return el("tr", { id: p.id, tabindex: "0", class: "clickable", onclick: () => detail(p), onkeydown: (e) => { if (e.key === "Enter") detail(p); } },
    el("td", {}, img),
    el("td", {}, el("time", { datetime: p.captured_at }, when(p.captured_at))),
    el("td", {}, p.camera_id),
    el("td", {}, p.detections.length ? p.detections.slice(0, 4).map((d) => chip(d)) : el("span", { class: "muted" }, "none")),
    el("td", {}, p.detections.length ? p.max_confidence.toFixed(2) : "–"),
    el("td", {}, flags));
}

function detail(p) {
  const body = document.getElementById("detail-body");
  body.replaceChildren(
    p.frame_key ? el("img", { src: `/api/inspection-logs/${p.id}/frame?boxes=true`, alt: "frame with detections", class: "big" }) : el("p", { class: "muted" }, "No frame was kept for this prediction."),
    el("dl", { class: "facts" },
      el("dt", {}, "Id"), el("dd", {}, p.id),
      el("dt", {}, "Camera"), el("dd", {}, `${p.camera_id} (project ${p.project})`),
      el("dt", {}, "Captured"), el("dd", {}, p.captured_at),
      el("dt", {}, "Model"), el("dd", {}, p.model_version)),
    el("table", { class: "table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Class"), el("th", {}, "Confidence"), el("th", {}, "Box (x1, y1, x2, y2)"))),
      el("tbody", {}, p.detections.map((d) => el("tr", {},
        el("td", {}, chip(d)), el("td", {}, d.confidence.toFixed(3)),
        el("td", {}, d.bbox.map((v) => Math.round(v)).join(", ")))))));
  document.getElementById("detail").showModal();
}

async function load(reset) {
  const q = query();
  q.set("limit", "50");
  if (!reset && next) q.set("cursor", next);
  const csv = query();
  csv.set("format", "csv");
  document.getElementById("csv").href = `/api/inspection-logs?${csv}`;
  let page;
  try {
    page = await api(`/api/inspection-logs?${q}`);
  } catch (e) {
    summary.textContent = `Error: ${e.message}`;
    return;
  }
  if (reset) { tbody.replaceChildren(); shown = new Set(); }
  for (const p of page.items) { shown.add(p.id); tbody.append(row(p)); }
  next = page.next;
  more.hidden = !next;
  summary.textContent = shown.size ? `${shown.size} shown${next ? " — more below" : ""}` : "No prediction matches.";
}

/** New rows at the top (first page only, same filter). */
async function poll() {
  if (!shown.size) return load(true);
  const q = query();
  q.set("limit", "50");
  const page = await api(`/api/inspection-logs?${q}`);
  const fresh = page.items.filter((p) => !shown.has(p.id));
  for (const p of fresh.reverse()) {
    shown.add(p.id);
    const r = row(p);
    r.classList.add("appear");
    tbody.prepend(r);
  }
  if (fresh.length) summary.textContent = `${shown.size} shown`;
}

form.addEventListener("submit", (e) => { e.preventDefault(); load(true); });
form.addEventListener("reset", () => setTimeout(() => load(true), 0));
more.addEventListener("click", () => load(false));
load(true);

// New rows: the server says when a batch was stored (server-sent events); the
// page then fetches the first page of its filter, at most once a second. Without
// the event stream (a proxy that drops it), it polls every 10 s.
let pending = false;
function refreshSoon() {
  if (pending) return;
  pending = true;
  setTimeout(() => { pending = false; if (document.visibilityState === "visible") poll().catch(console.warn); }, 1000);
}
const events = new EventSource("/api/inspection-logs/events");
events.addEventListener("logged", refreshSoon);
document.body.dataset.live = "connecting";
events.onopen = () => { document.body.dataset.live = "sse"; };
setInterval(() => { if (events.readyState !== EventSource.OPEN) refreshSoon(); }, 10000);
