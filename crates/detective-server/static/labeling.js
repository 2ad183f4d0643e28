// Labeling page: one queued frame large on a canvas with the model's boxes as the
// starting point. Mouse: drag on empty space in draw mode (R) to add a box, drag a
// box to move it, drag a corner handle to resize, click to select. Keys like Label
// Studio/CVAT: R draw, 1–9 class, Delete remove, Ctrl+Enter submit, S skip,
// arrows previous/next. No boxes on submit labels the part defect-free.
import { api, el } from "/static/common.js";

const root = document.getElementById("labeling-page");
const mayOperate = root.dataset.mayOperate === "true";
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const HANDLE = 7;
let items = [];
let index = 0;
let classes = [];
let boxes = [];
let selected = -1;
let drawMode = false;
let image = null;
let drag = null;
let busy = false;

function status(text) {
  document.getElementById("label-status").textContent = text;
}

function scale() {
  return image ? canvas.width / image.naturalWidth : 1;
}

function draw() {
  if (!image) return;
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  const s = scale();
  boxes.forEach((b, i) => {
    const [x1, y1, x2, y2] = b.bbox.map(v => v * s);
    const sel = i === selected;
    ctx.lineWidth = sel ? 3 : 2;
    ctx.strokeStyle = sel ? "#3E9A96" : "#e02424";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const name = classes[b.class] || `class ${b.class}`;
    ctx.font = "13px Inter, system-ui, sans-serif";
    const w = ctx.measureText(name).width + 8;
    ctx.fillStyle = sel ? "#3E9A96" : "#e02424";
    ctx.fillRect(x1, Math.max(0, y1 - 18), w, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(name, x1 + 4, Math.max(13, y1 - 5));
    if (sel) {
      for (const [hx, hy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) {
        ctx.fillStyle = "#fff";
        ctx.fillRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
        ctx.strokeStyle = "#3E9A96";
        ctx.lineWidth = 1.5;
        ctx.strokeRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
      }
    }
  });
  canvas.dataset.boxes = String(boxes.length);
  listBoxes();
}

function listBoxes() {
  const ul = document.getElementById("boxes");
  ul.replaceChildren(...boxes.map((b, i) => el("li", { class: i === selected ? "selected" : "" },
    el("button", { type: "button", class: "link-button", onclick: () => { selected = i; syncClass(); draw(); } },
      `${i + 1}. ${classes[b.class] || "class " + b.class}`),
    el("span", { class: "muted small" }, ` ${b.bbox.map(v => Math.round(v)).join(", ")}`))));
  if (boxes.length === 0) ul.append(el("li", { class: "muted small" }, "no boxes (defect-free)"));
}

function syncClass() {
  if (selected >= 0) document.getElementById("cls").value = String(boxes[selected].class);
}

function setDraw(on) {
  drawMode = on;
  const b = document.getElementById("draw");
  b.setAttribute("aria-pressed", String(on));
  b.classList.toggle("active", on);
  canvas.style.cursor = on ? "crosshair" : "default";
}

function point(ev) {
  const r = canvas.getBoundingClientRect();
  const s = scale() * (r.width / canvas.width);
  return [(ev.clientX - r.left) / s, (ev.clientY - r.top) / s];
}

/** What is under (x, y) in image pixels: a handle of the selected box, a box, or nothing. */
function hit(x, y) {
  const tol = (HANDLE + 2) / scale();
  if (selected >= 0) {
    const [x1, y1, x2, y2] = boxes[selected].bbox;
    const corners = [[x1, y1, "tl"], [x2, y1, "tr"], [x1, y2, "bl"], [x2, y2, "br"]];
    for (const [hx, hy, c] of corners) if (Math.abs(x - hx) <= tol && Math.abs(y - hy) <= tol) return { kind: "resize", i: selected, corner: c };
  }
  for (let i = boxes.length - 1; i >= 0; i--) {
    const [x1, y1, x2, y2] = boxes[i].bbox;
    if (x >= x1 && x <= x2 && y >= y1 && y <= y2) return { kind: "move", i };
  }
  return null;
}

function clampBox(b) {
  const W = image.naturalWidth, H = image.naturalHeight;
  let [x1, y1, x2, y2] = b;
  [x1, x2] = [Math.min(x1, x2), Math.max(x1, x2)];
  [y1, y2] = [Math.min(y1, y2), Math.max(y1, y2)];
  return [Math.max(0, x1), Math.max(0, y1), Math.min(W, x2), Math.min(H, y2)];
}

canvas.addEventListener("mousedown", (ev) => {
  if (!image || !mayOperate) return;
  canvas.focus();
  const [x, y] = point(ev);
  const h = drawMode ? null : hit(x, y);
  if (h) {
    selected = h.i;
    syncClass();
    drag = { ...h, start: [x, y], orig: boxes[h.i].bbox.slice() };
  } else {
    const cls = Number(document.getElementById("cls").value) || 0;
    boxes.push({ class: cls, bbox: [x, y, x, y] });
    selected = boxes.length - 1;
    drag = { kind: "draw", i: selected, start: [x, y] };
  }
  draw();
});

window.addEventListener("mousemove", (ev) => {
  if (!drag) return;
  const [x, y] = point(ev);
  const b = boxes[drag.i];
  if (drag.kind === "draw") {
    b.bbox = [drag.start[0], drag.start[1], x, y];
  } else if (drag.kind === "move") {
    const [dx, dy] = [x - drag.start[0], y - drag.start[1]];
    const [x1, y1, x2, y2] = drag.orig;
    const W = image.naturalWidth, H = image.naturalHeight;
    const ddx = Math.min(Math.max(dx, -x1), W - x2), ddy = Math.min(Math.max(dy, -y1), H - y2);
    b.bbox = [x1 + ddx, y1 + ddy, x2 + ddx, y2 + ddy];
  } else if (drag.kind === "resize") {
    const [x1, y1, x2, y2] = drag.orig;
    b.bbox = {
      tl: [x, y, x2, y2], tr: [x1, y, x, y2], bl: [x, y1, x2, y], br: [x1, y1, x, y],
    }[drag.corner];
  }
  draw();
});

window.addEventListener("mouseup", () => {
  if (!drag) return;
  const b = boxes[drag.i];
  b.bbox = clampBox(b.bbox);
  // A click without a drag in draw mode makes no box.
  if (drag.kind === "draw" && (b.bbox[2] - b.bbox[0] < 3 || b.bbox[3] - b.bbox[1] < 3)) {
    boxes.splice(drag.i, 1);
    selected = -1;
  } else if (drag.kind === "draw") {
    setDraw(false);
  }
  drag = null;
  draw();
});

function deleteSelected() {
  if (selected < 0) return;
  boxes.splice(selected, 1);
  selected = Math.min(selected, boxes.length - 1);
  draw();
}

function setClass(c) {
  if (c >= classes.length) return;
  document.getElementById("cls").value = String(c);
  if (selected >= 0) {
    boxes[selected].class = c;
    draw();
  }
}

async function counts() {
  const q = await api("/api/labeling-queue?limit=1");
  document.getElementById("n-pending").textContent = q.pending;
  document.getElementById("n-done").textContent = q.done;
}

async function load() {
  const order = document.getElementById("order").value;
  const why = document.getElementById("why").value;
  const q = await api(`/api/labeling-queue?status=pending&order=${order}&limit=200${why ? `&reason=${why}` : ""}`);
  items = q.items;
  classes = q.classes || [];
  const names = new Set(items.flatMap(i => i.detections.map(d => [d.class, d.name])).map(x => JSON.stringify(x)));
  for (const s of names) {
    const [c, n] = JSON.parse(s);
    if (!classes[c]) classes[c] = n;
  }
  document.getElementById("cls").replaceChildren(...classes.map((n, i) => el("option", { value: i }, `${i + 1}: ${n}`)));
  document.getElementById("n-pending").textContent = q.pending;
  document.getElementById("n-done").textContent = q.done;
  index = Math.min(index, Math.max(0, items.length - 1));
  show();
}

// Why a frame is in the queue, as the page says it.
const REASONS = {
  uncertain: "uncertain: a confidence inside its class's band",
  random: "sampled: the random share of all frames",
  more_than: "sampled: more detections than the camera's limit",
  class: "sampled: a detection of a class the camera samples",
};

function show() {
  const empty = items.length === 0;
  document.getElementById("empty").hidden = !empty;
  document.getElementById("work").hidden = empty;
  if (empty) { image = null; return; }
  const it = items[index];
  boxes = it.detections.map(d => ({ class: d.class, bbox: d.bbox.slice() }));
  selected = -1;
  setDraw(false);
  document.getElementById("item-h").textContent = `Frame ${index + 1} of ${items.length}`;
  document.getElementById("item-info").textContent =
    `camera ${it.camera_id} · ${new Date(it.created_at).toLocaleString()} · model confidences ${it.detections.map(d => d.confidence.toFixed(2)).join(", ") || "–"}`;
  const why = document.getElementById("item-reason");
  why.textContent = `Why here: ${REASONS[it.reason] || it.reason}`;
  why.dataset.reason = it.reason;
  document.getElementById("position").textContent = `frame ${index + 1} / ${items.length} loaded`;
  const img = new Image();
  img.onload = () => {
    image = img;
    const maxW = canvas.parentElement.clientWidth || 900;
    const w = Math.min(img.naturalWidth * 2, maxW);
    canvas.width = Math.round(w);
    canvas.height = Math.round(w * img.naturalHeight / img.naturalWidth);
    canvas.dataset.ready = it.id;
    draw();
  };
  img.onerror = () => status("This frame has no stored image (the agent kept none); skip it.");
  img.src = `/api/inspection-logs/${encodeURIComponent(it.prediction_id)}/frame`;
}

async function decide(kind) {
  if (!mayOperate || busy || items.length === 0) return;
  const it = items[index];
  busy = true;
  try {
    if (kind === "label") {
      const body = boxes.length === 0 ? { defect_free: true }
        : { boxes: boxes.map(b => ({ class: b.class, name: classes[b.class], bbox: b.bbox.map(v => Math.round(v * 10) / 10) })) };
      await api(`/api/labeling-queue/${it.id}/label`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      status(boxes.length === 0 ? `Frame ${it.id} labelled defect-free.` : `Frame ${it.id} labelled with ${boxes.length} box${boxes.length > 1 ? "es" : ""}.`);
    } else {
      await api(`/api/labeling-queue/${it.id}/skip`, { method: "POST" });
      status(`Frame ${it.id} skipped.`);
    }
  } catch (e) {
    status(e.message.startsWith("409") ? `Frame ${it.id} was already decided by someone else.` : e.message);
  } finally {
    busy = false;
  }
  items.splice(index, 1);
  if (index >= items.length) index = Math.max(0, items.length - 1);
  show();
  counts().catch(() => {});
}

document.addEventListener("keydown", (ev) => {
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); decide("label"); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "r" || ev.key === "R") { setDraw(!drawMode); ev.preventDefault(); }
  else if (ev.key === "s" || ev.key === "S") { decide("skip"); ev.preventDefault(); }
  else if (ev.key === "Delete" || ev.key === "Backspace") { deleteSelected(); ev.preventDefault(); }
  else if (ev.key === "ArrowRight") { if (index < items.length - 1) { index++; show(); } ev.preventDefault(); }
  else if (ev.key === "ArrowLeft") { if (index > 0) { index--; show(); } ev.preventDefault(); }
  else if (/^[1-9]$/.test(ev.key)) { setClass(Number(ev.key) - 1); ev.preventDefault(); }
  else if (ev.key === "Escape") { selected = -1; setDraw(false); draw(); }
});

document.getElementById("draw").addEventListener("click", () => setDraw(!drawMode));
document.getElementById("del").addEventListener("click", deleteSelected);
document.getElementById("cls").addEventListener("change", (e) => setClass(Number(e.target.value)));
document.getElementById("prev").addEventListener("click", () => { if (index > 0) { index--; show(); } });
document.getElementById("next").addEventListener("click", () => { if (index < items.length - 1) { index++; show(); } });
document.getElementById("order").addEventListener("change", () => { index = 0; load(); });
document.getElementById("why").addEventListener("change", () => { index = 0; load(); });
if (mayOperate) {
  document.getElementById("submit").addEventListener("click", () => decide("label"));
  document.getElementById("skip").addEventListener("click", () => decide("skip"));
}
load().catch((e) => status(e.message));
