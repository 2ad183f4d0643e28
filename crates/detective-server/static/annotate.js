// Annotate page: any image of a project, labelled in place. Boxes (B) for the
// detector; polygons (P) and a painted layer (M brush, E eraser) for the
// segmenter. Wheel zooms at the cursor, H or holding Space pans, 0 fits. Keys:
// 1–9 class, V select, Delete removes the selected shape, Ctrl+Z / Ctrl+Shift+Z
// undo / redo, A (or Ctrl+Enter) saves as labelled and moves on, Shift+A saves
// as reviewed, → / N next, ← previous, L pre-labels with the chosen model.
// Shapes a model proposed are dashed until a person touches them; the list
// says who made each shape. Each save is a revision (GET/PUT /api/images/{id}/labels).
import { api, el, icon, modelOptions } from "/static/common.js";

const root = document.getElementById("annotate-page");
const mayOperate = root.dataset.mayOperate === "true";
const mayManage = root.dataset.mayManage === "true";
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const $ = (id) => document.getElementById(id);
const HANDLE = 7;
const ICON_NAMES = ["circle", "square", "triangle", "diamond", "cross", "star", "ring", "bar"];
// New classes' colours, as the server gives them (the Okabe–Ito palette).
const PALETTE = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#999999"];

const S = {
  project: "", classes: [], images: [], next: null, index: 0,
  labels: null, boxes: [], polygons: [], brushOrigin: null, brushUsed: false, brushVersion: 0,
  image: null, brush: document.createElement("canvas"),
  tool: "select", cls: 0, brushSize: 16,
  view: { scale: 1, ox: 0, oy: 0 }, selected: null, draft: null, drag: null, mouse: null,
  undo: [], redo: [], dirty: false, busy: false, space: false,
};
const bctx = S.brush.getContext("2d", { willReadFrequently: true });

function status(text) { $("label-status").textContent = text; }
function color(c) { return (S.classes[c] && S.classes[c].color) || "#e02424"; }
function className(c) { return (S.classes[c] && S.classes[c].name) || `class ${c}`; }
function isProposal(s) { return s.source === "model" && !s.edited; }

/** An SVG icon of a class: the shape named by `name`, filled with `fill`. */
function classIcon(name, fill) {
  const paths = {
    circle: "<circle cx='8' cy='8' r='6'/>",
    square: "<rect x='2.5' y='2.5' width='11' height='11'/>",
    triangle: "<path d='M8 2 L14.5 14 H1.5 Z'/>",
    diamond: "<path d='M8 1.5 L14.5 8 L8 14.5 L1.5 8 Z'/>",
    cross: "<path d='M6 1.5 H10 V6 H14.5 V10 H10 V14.5 H6 V10 H1.5 V6 H6 Z'/>",
    star: "<path d='M8 1 L10 6 L15 6.2 L11 9.4 L12.4 14.5 L8 11.6 L3.6 14.5 L5 9.4 L1 6.2 L6 6 Z'/>",
    ring: "<circle cx='8' cy='8' r='5' fill='none' stroke-width='3' stroke='currentColor'/>",
    bar: "<rect x='1.5' y='6' width='13' height='4'/>",
  };
  const span = el("span", { class: "class-icon", "aria-hidden": "true" });
  span.style.color = fill;
  span.innerHTML = `<svg viewBox="0 0 16 16" width="14" height="14" fill="currentColor">${paths[name] || paths.circle}</svg>`;
  return span;
}

// ---- view: image pixels ↔ canvas pixels --------------------------------------------------

function toImage(ev) {
  const r = canvas.getBoundingClientRect();
  const cx = (ev.clientX - r.left) * (canvas.width / r.width);
  const cy = (ev.clientY - r.top) * (canvas.height / r.height);
  return [(cx - S.view.ox) / S.view.scale, (cy - S.view.oy) / S.view.scale];
}

function fit() {
  if (!S.image) return;
  const W = S.image.naturalWidth, H = S.image.naturalHeight;
  const stage = $("stage");
  canvas.width = Math.max(320, stage.clientWidth || 900);
  canvas.height = Math.max(240, Math.round(Math.min(window.innerHeight * 0.72, canvas.width * H / W)));
  const scale = Math.min(canvas.width / W, canvas.height / H);
  S.view = { scale, ox: (canvas.width - W * scale) / 2, oy: (canvas.height - H * scale) / 2 };
  draw();
}

function zoomAt(cx, cy, factor) {
  const v = S.view;
  const scale = Math.min(40, Math.max(0.05, v.scale * factor));
  S.view = { scale, ox: cx - (cx - v.ox) * scale / v.scale, oy: cy - (cy - v.oy) * scale / v.scale };
  draw();
}

// ---- drawing -------------------------------------------------------------------------------

function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#15232c";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!S.image) return;
  const { scale, ox, oy } = S.view;
  ctx.setTransform(scale, 0, 0, scale, ox, oy);
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.drawImage(S.image, 0, 0);
  if (S.brushUsed) {
    ctx.globalAlpha = 0.45;
    ctx.drawImage(S.brush, 0, 0);
    ctx.globalAlpha = 1;
  }
  const lw = 2 / scale;
  S.polygons.forEach((p, i) => {
    const sel = S.selected && S.selected.kind === "polygon" && S.selected.i === i;
    ctx.beginPath();
    p.points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = color(p.class) + "55";
    ctx.fill();
    ctx.setLineDash(isProposal(p) ? [6 / scale, 4 / scale] : []);
    ctx.lineWidth = sel ? lw * 1.6 : lw;
    ctx.strokeStyle = color(p.class);
    ctx.stroke();
    if (sel) p.points.forEach(([x, y]) => handle(x, y));
  });
  S.boxes.forEach((b, i) => {
    const sel = S.selected && S.selected.kind === "box" && S.selected.i === i;
    const [x1, y1, x2, y2] = b.bbox;
    ctx.setLineDash(isProposal(b) ? [6 / scale, 4 / scale] : []);
    ctx.lineWidth = sel ? lw * 1.6 : lw;
    ctx.strokeStyle = color(b.class);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    const tag = className(b.class) + (b.source === "model" && b.confidence != null ? ` ${b.confidence.toFixed(2)}` : "");
    ctx.font = `${13 / scale}px Inter, system-ui, sans-serif`;
    const tw = ctx.measureText(tag).width + 8 / scale;
    ctx.fillStyle = color(b.class);
    ctx.fillRect(x1, y1 - 18 / scale, tw, 18 / scale);
    ctx.fillStyle = "#111";
    ctx.fillText(tag, x1 + 4 / scale, y1 - 5 / scale);
    if (sel) [[x1, y1], [x2, y1], [x1, y2], [x2, y2]].forEach(([x, y]) => handle(x, y));
  });
  ctx.setLineDash([]);
  if (S.draft) {
    ctx.beginPath();
    S.draft.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (S.mouse) ctx.lineTo(S.mouse[0], S.mouse[1]);
    ctx.lineWidth = lw;
    ctx.strokeStyle = color(S.cls);
    ctx.stroke();
    S.draft.forEach(([x, y]) => handle(x, y));
  }
  if (S.mouse && (S.tool === "brush" || S.tool === "eraser")) {
    ctx.beginPath();
    ctx.arc(S.mouse[0], S.mouse[1], S.brushSize / 2, 0, 2 * Math.PI);
    ctx.lineWidth = 1 / scale;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
  canvas.dataset.boxes = String(S.boxes.length);
  canvas.dataset.polygons = String(S.polygons.length);
  $("view-info").textContent = `${S.image.naturalWidth}×${S.image.naturalHeight} px · zoom ${(scale * 100).toFixed(0)} %`;
}

function handle(x, y) {
  const h = HANDLE / S.view.scale;
  ctx.fillStyle = "#fff";
  ctx.fillRect(x - h / 2, y - h / 2, h, h);
  ctx.strokeStyle = "#3E9A96";
  ctx.lineWidth = 1.5 / S.view.scale;
  ctx.strokeRect(x - h / 2, y - h / 2, h, h);
}

function sourceText(s) {
  if (s.source === "model") return `model ${s.model || ""}${s.confidence != null ? " " + s.confidence.toFixed(2) : ""}${s.edited ? ", corrected" : ""}`;
  return s.source === "import" ? "imported" : "person";
}

function listShapes() {
  const rows = [];
  const pick = (kind, i) => () => { S.selected = { kind, i }; setClass(kindShape(S.selected).class, false); draw(); listShapes(); };
  S.boxes.forEach((b, i) => rows.push(el("li", { class: isSel("box", i) ? "selected" : "", "data-source": b.source },
    el("button", { type: "button", class: "link-button", onclick: pick("box", i) }, classIcon(iconOf(b.class), color(b.class)), ` box ${i + 1}: ${className(b.class)}`),
    el("span", { class: "muted small" }, ` ${sourceText(b)}`))));
  S.polygons.forEach((p, i) => rows.push(el("li", { class: isSel("polygon", i) ? "selected" : "", "data-source": p.source },
    el("button", { type: "button", class: "link-button", onclick: pick("polygon", i) }, classIcon(iconOf(p.class), color(p.class)), ` polygon ${i + 1}: ${className(p.class)}`),
    el("span", { class: "muted small" }, ` ${p.points.length} points, ${sourceText(p)}`))));
  if (S.brushUsed) rows.push(el("li", { "data-source": (S.brushOrigin || {}).source || "person" }, "painted layer ",
    el("span", { class: "muted small" }, sourceText(S.brushOrigin || { source: "person" }))));
  if (rows.length === 0) rows.push(el("li", { class: "muted small" }, "no shapes (defect-free)"));
  $("shapes").replaceChildren(...rows);
}

function isSel(kind, i) { return S.selected && S.selected.kind === kind && S.selected.i === i; }
function kindShape(sel) { return sel.kind === "box" ? S.boxes[sel.i] : S.polygons[sel.i]; }
function iconOf(c) { return (S.classes[c] && S.classes[c].icon) || "circle"; }

// ---- undo / redo ----------------------------------------------------------------------------

function snapshot() {
  const last = S.undo[S.undo.length - 1];
  let brush = null;
  if (S.brushUsed) {
    brush = last && last.brushVersion === S.brushVersion ? last.brush : bctx.getImageData(0, 0, S.brush.width, S.brush.height);
  }
  return {
    boxes: structuredClone(S.boxes), polygons: structuredClone(S.polygons), brushOrigin: structuredClone(S.brushOrigin),
    brushUsed: S.brushUsed, brushVersion: S.brushVersion, brush,
  };
}

function restore(s) {
  S.boxes = s.boxes; S.polygons = s.polygons; S.brushOrigin = s.brushOrigin; S.brushUsed = s.brushUsed;
  S.brushVersion = s.brushVersion;
  bctx.clearRect(0, 0, S.brush.width, S.brush.height);
  if (s.brush) bctx.putImageData(s.brush, 0, 0);
  S.selected = null;
  S.dirty = true;
  draw(); listShapes();
}

/** Call before every change: what undo goes back to. */
function change() {
  S.undo.push(snapshot());
  if (S.undo.length > 40) S.undo.shift();
  S.redo = [];
  S.dirty = true;
}

function undo() { if (S.undo.length) { S.redo.push(snapshot()); restore(S.undo.pop()); status("Undone."); } }
function redo() { if (S.redo.length) { S.undo.push(snapshot()); restore(S.redo.pop()); status("Redone."); } }

// ---- hit testing and mouse ------------------------------------------------------------------

function inPolygon(pts, x, y) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function hit(x, y) {
  const tol = (HANDLE + 2) / S.view.scale;
  const near = (px, py) => Math.abs(x - px) <= tol && Math.abs(y - py) <= tol;
  if (S.selected && S.selected.kind === "box") {
    const [x1, y1, x2, y2] = S.boxes[S.selected.i].bbox;
    for (const [hx, hy, c] of [[x1, y1, "tl"], [x2, y1, "tr"], [x1, y2, "bl"], [x2, y2, "br"]]) {
      if (near(hx, hy)) return { kind: "resize", i: S.selected.i, corner: c };
    }
  }
  if (S.selected && S.selected.kind === "polygon") {
    const k = S.polygons[S.selected.i].points.findIndex(([px, py]) => near(px, py));
    if (k >= 0) return { kind: "vertex", i: S.selected.i, k };
  }
  for (let i = S.boxes.length - 1; i >= 0; i--) {
    const [x1, y1, x2, y2] = S.boxes[i].bbox;
    if (x >= x1 && x <= x2 && y >= y1 && y <= y2) return { kind: "move", shape: "box", i };
  }
  for (let i = S.polygons.length - 1; i >= 0; i--) {
    if (inPolygon(S.polygons[i].points, x, y)) return { kind: "move", shape: "polygon", i };
  }
  return null;
}

function clampBox([x1, y1, x2, y2]) {
  const W = S.image.naturalWidth, H = S.image.naturalHeight;
  return [Math.max(0, Math.min(x1, x2)), Math.max(0, Math.min(y1, y2)), Math.min(W, Math.max(x1, x2)), Math.min(H, Math.max(y1, y2))];
}

function paint(from, to) {
  bctx.save();
  bctx.globalCompositeOperation = S.tool === "eraser" ? "destination-out" : "source-over";
  bctx.strokeStyle = "#ff0000";
  bctx.fillStyle = "#ff0000";
  bctx.lineCap = "round";
  bctx.lineWidth = S.brushSize;
  bctx.beginPath();
  bctx.moveTo(from[0], from[1]);
  bctx.lineTo(to[0], to[1]);
  bctx.stroke();
  bctx.restore();
  S.brushUsed = true;
  S.brushVersion++;
}

canvas.addEventListener("wheel", (ev) => {
  if (!S.image) return;
  ev.preventDefault();
  const r = canvas.getBoundingClientRect();
  zoomAt((ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height, ev.deltaY < 0 ? 1.2 : 1 / 1.2);
}, { passive: false });

canvas.addEventListener("mousedown", (ev) => {
  if (!S.image) return;
  canvas.focus();
  const [x, y] = toImage(ev);
  if (ev.button === 1 || S.tool === "pan" || S.space) {
    S.drag = { kind: "pan", sx: ev.clientX, sy: ev.clientY, view: { ...S.view } };
    return;
  }
  if (!mayOperate || ev.button !== 0) return;
  if (S.tool === "box") {
    change();
    S.boxes.push({ class: S.cls, bbox: [x, y, x, y], source: "person" });
    S.selected = { kind: "box", i: S.boxes.length - 1 };
    S.drag = { kind: "draw", i: S.selected.i, start: [x, y] };
  } else if (S.tool === "polygon") {
    addPolygonPoint(x, y);
  } else if (S.tool === "brush" || S.tool === "eraser") {
    change();
    if (S.brushOrigin && S.brushOrigin.source === "model") S.brushOrigin.edited = true;
    if (!S.brushOrigin) S.brushOrigin = { source: "person" };
    paint([x, y], [x, y]);
    S.drag = { kind: "paint", last: [x, y] };
  } else {
    const h = hit(x, y);
    if (!h) { S.selected = null; draw(); listShapes(); return; }
    const shape = h.shape || (S.selected && S.selected.kind) || "box";
    S.selected = { kind: h.kind === "vertex" ? "polygon" : h.kind === "resize" ? "box" : shape, i: h.i };
    setClass(kindShape(S.selected).class, false);
    change();
    const s = kindShape(S.selected);
    S.drag = { ...h, start: [x, y], orig: structuredClone(s.bbox || s.points), moved: false };
  }
  draw(); listShapes();
});

window.addEventListener("mousemove", (ev) => {
  if (!S.image) return;
  S.mouse = toImage(ev);
  const d = S.drag;
  if (!d) { if (S.draft || S.tool === "brush" || S.tool === "eraser") draw(); return; }
  const [x, y] = S.mouse;
  if (d.kind === "pan") {
    const r = canvas.getBoundingClientRect();
    const k = canvas.width / r.width;
    S.view = { ...d.view, ox: d.view.ox + (ev.clientX - d.sx) * k, oy: d.view.oy + (ev.clientY - d.sy) * k };
  } else if (d.kind === "draw") {
    S.boxes[d.i].bbox = [d.start[0], d.start[1], x, y];
  } else if (d.kind === "paint") {
    paint(d.last, [x, y]);
    d.last = [x, y];
  } else if (d.kind === "move" || d.kind === "resize" || d.kind === "vertex") {
    const s = kindShape(S.selected);
    const [dx, dy] = [x - d.start[0], y - d.start[1]];
    d.moved = true;
    if (d.kind === "resize") {
      const [x1, y1, x2, y2] = d.orig;
      s.bbox = { tl: [x, y, x2, y2], tr: [x1, y, x, y2], bl: [x, y1, x2, y], br: [x1, y1, x, y] }[d.corner];
    } else if (d.kind === "vertex") {
      s.points[d.k] = [x, y];
    } else if (s.bbox) {
      const [x1, y1, x2, y2] = d.orig;
      const W = S.image.naturalWidth, H = S.image.naturalHeight;
      const ddx = Math.min(Math.max(dx, -x1), W - x2), ddy = Math.min(Math.max(dy, -y1), H - y2);
      s.bbox = [x1 + ddx, y1 + ddy, x2 + ddx, y2 + ddy];
    } else {
      s.points = d.orig.map(([px, py]) => [px + dx, py + dy]);
    }
  }
  draw();
});

window.addEventListener("mouseup", () => {
  const d = S.drag;
  if (!d) return;
  S.drag = null;
  if (d.kind === "draw") {
    const b = S.boxes[d.i];
    b.bbox = clampBox(b.bbox);
    if (b.bbox[2] - b.bbox[0] < 3 || b.bbox[3] - b.bbox[1] < 3) {
      S.boxes.splice(d.i, 1);
      S.undo.pop();
      S.selected = null;
    }
  } else if (d.kind === "move" || d.kind === "resize" || d.kind === "vertex") {
    const s = kindShape(S.selected);
    if (!d.moved) S.undo.pop();
    else {
      if (s.bbox) s.bbox = clampBox(s.bbox);
      if (s.source === "model") s.edited = true;
    }
  }
  draw(); listShapes();
});

canvas.addEventListener("dblclick", () => { if (S.tool === "polygon") closePolygon(); });

function addPolygonPoint(x, y) {
  if (!S.draft) S.draft = [];
  const first = S.draft[0];
  if (first && S.draft.length >= 3 && Math.hypot(x - first[0], y - first[1]) * S.view.scale < 9) { closePolygon(); return; }
  S.draft.push([x, y]);
  draw();
}

function closePolygon() {
  if (!S.draft) return;
  const W = S.image.naturalWidth, H = S.image.naturalHeight;
  const pts = S.draft.map(([x, y]) => [Math.min(W, Math.max(0, x)), Math.min(H, Math.max(0, y))]);
  S.draft = null;
  if (pts.length < 3) { status("A polygon needs three points."); draw(); return; }
  change();
  S.polygons.push({ class: S.cls, points: pts, source: "person" });
  S.selected = { kind: "polygon", i: S.polygons.length - 1 };
  draw(); listShapes();
}

// ---- tools and classes ----------------------------------------------------------------------

function setTool(t) {
  if (S.draft && t !== "polygon") S.draft = null;
  S.tool = t;
  document.querySelectorAll("[data-tool]").forEach(b => {
    b.classList.toggle("active", b.dataset.tool === t);
    b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  });
  canvas.style.cursor = { pan: "grab", select: "default" }[t] || "crosshair";
  canvas.dataset.tool = t;
  draw();
}

function setClass(c, apply = true) {
  if (c < 0 || c >= S.classes.length) return;
  S.cls = c;
  document.querySelectorAll("#class-pick li").forEach((li, i) => li.classList.toggle("selected", i === c));
  if (apply && S.selected) {
    const s = kindShape(S.selected);
    if (s && s.class !== c) {
      change();
      s.class = c;
      if (s.source === "model") s.edited = true;
      draw(); listShapes();
    }
  }
}

function deleteSelected() {
  if (!S.selected) return;
  change();
  (S.selected.kind === "box" ? S.boxes : S.polygons).splice(S.selected.i, 1);
  S.selected = null;
  draw(); listShapes();
}

function showClassPick() {
  $("class-pick").replaceChildren(...S.classes.map((c, i) => el("li", { class: i === S.cls ? "selected" : "" },
    el("button", { type: "button", class: "link-button", onclick: () => setClass(i) },
      el("kbd", {}, String(i + 1)), classIcon(c.icon, c.color), icon(c.name), ` ${c.name}`))));
}

function classRow(c = { name: "", color: "", icon: "" }, i = 0) {
  const icons = el("select", { class: "class-icon-pick", "aria-label": "icon" },
    ...ICON_NAMES.map(n => el("option", { value: n, selected: n === (c.icon || ICON_NAMES[i % ICON_NAMES.length]) }, n)));
  return el("li", {},
    el("input", { class: "class-name", value: c.name, placeholder: "class name", "aria-label": "class name", required: true }),
    el("input", { class: "class-color", type: "color", value: c.color || PALETTE[i % PALETTE.length], "aria-label": "colour" }),
    icons);
}

function showClassEditor() {
  $("classes-card").hidden = false;
  $("classes-project").textContent = S.project;
  const rows = S.classes.length ? S.classes.map(classRow) : [classRow()];
  $("class-editor").replaceChildren(...rows);
}

async function saveClasses() {
  const classes = [...document.querySelectorAll("#class-editor li")].map(li => ({
    name: li.querySelector(".class-name").value.trim(),
    color: li.querySelector(".class-color").value,
    icon: li.querySelector(".class-icon-pick").value,
  })).filter(c => c.name);
  try {
    const r = await api(`/api/projects/${encodeURIComponent(S.project)}/classes`, {
      method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ classes }),
    });
    S.classes = r.classes;
    $("classes-status").textContent = `Saved ${r.classes.length} classes.`;
    showClassPick();
    $("classes-card").hidden = true;
    if (S.images.length) { $("work").hidden = false; await show(); }
  } catch (e) {
    $("classes-status").textContent = e.message;
  }
}

// ---- loading, showing and saving images ---------------------------------------------------

async function counts() {
  const r = await api(`/api/projects/${encodeURIComponent(S.project)}/classes`);
  for (const k of ["unlabelled", "labelled", "reviewed"]) $(`n-${k}`).textContent = r.counts[k];
  return r;
}

async function open() {
  S.project = $("project").value.trim();
  if (!S.project) { status("Name a project."); return; }
  localStorage.setItem("annotate.project", S.project);
  const r = await counts();
  S.classes = r.classes;
  showClassPick();
  $("classes-card").hidden = true;
  if (S.classes.length === 0) showClassEditor();
  S.images = [];
  S.next = null;
  S.index = 0;
  S.image = null;
  await loadMore();
}

async function loadMore() {
  const status = $("status-filter").value;
  const q = new URLSearchParams({ project: S.project, limit: "200" });
  if (status) q.set("status", status);
  if (S.next) q.set("cursor", S.next);
  const page = await api(`/api/images?${q}`);
  S.images.push(...page.items);
  S.next = page.next;
  $("more").hidden = !S.next;
  const empty = S.images.length === 0;
  $("empty").hidden = !empty;
  $("work").hidden = empty || S.classes.length === 0;
  listImages();
  if (!empty && S.classes.length && !S.image) await show();
}

function listImages() {
  $("image-list").replaceChildren(...S.images.map((img, i) => el("li", { class: i === S.index ? "selected" : "", "data-status": img.label_status },
    el("button", { type: "button", class: "link-button", onclick: () => go(i) },
      el("span", { class: `dot ${img.label_status}`, title: img.label_status }), ` ${img.filename}`))));
}

function go(i) {
  if (i < 0 || i >= S.images.length) return;
  if (S.dirty && !confirm("Leave this image without saving its changes?")) return;
  S.index = i;
  show().catch(e => status(e.message));
}

async function show() {
  const img = S.images[S.index];
  S.dirty = false;
  S.undo = []; S.redo = [];
  S.selected = null; S.draft = null;
  listImages();
  $("item-h").textContent = `Image ${S.index + 1} of ${S.images.length}${S.next ? "+" : ""}`;
  const labels = await api(`/api/images/${img.id}/labels`);
  S.labels = labels;
  S.boxes = labels.boxes;
  S.polygons = labels.polygons;
  S.brushOrigin = labels.brush;
  $("item-info").textContent = `${img.filename} · ${img.width}×${img.height} · ${labels.status}` +
    (labels.revision ? ` · revision ${labels.revision} by ${labels.author}` : "");
  const picture = new Image();
  await new Promise((ok, fail) => {
    picture.onload = ok;
    picture.onerror = () => fail(new Error("the image file could not be loaded"));
    picture.src = `/api/images/${img.id}/file`;
  });
  S.image = picture;
  S.brush.width = picture.naturalWidth;
  S.brush.height = picture.naturalHeight;
  bctx.clearRect(0, 0, S.brush.width, S.brush.height);
  S.brushUsed = false;
  if (labels.brush) await loadBrush(img.id);
  fit();
  listShapes();
  revisions(img.id).catch(() => {});
  canvas.dataset.ready = String(img.id);
}

/**
 * Replaces the painted layer with the white-on-black mask image at `src`, as
 * the red layer the editor paints; false when it does not load.
 */
async function setLayer(src) {
  const png = new Image();
  await new Promise((ok) => { png.onload = ok; png.onerror = ok; png.src = src; });
  if (!png.naturalWidth) return false;
  bctx.clearRect(0, 0, S.brush.width, S.brush.height);
  bctx.drawImage(png, 0, 0);
  const data = bctx.getImageData(0, 0, S.brush.width, S.brush.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const on = px[i] >= 128;
    px[i] = 255; px[i + 1] = 0; px[i + 2] = 0; px[i + 3] = on ? 255 : 0;
  }
  bctx.putImageData(data, 0, 0);
  S.brushUsed = true;
  S.brushVersion++;
  return true;
}

/** The stored painted layer of image `id`. */
async function loadBrush(id) {
  await setLayer(`/api/images/${id}/labels/brush?ts=${Date.now()}`);
}

async function revisions(id) {
  const revs = await api(`/api/images/${id}/labels/revisions`);
  $("revisions").replaceChildren(...revs.map(r => el("li", {},
    `r${r.revision} ${r.status} by ${r.author}, ${r.boxes} boxes, ${r.polygons} polygons${r.painted ? ", painted" : ""}` +
    (r.from_model ? `, ${r.from_model} from a model` : ""))));
}

/** The painted layer as a black-and-white PNG data URL, or null when nothing is painted. */
function brushPng() {
  if (!S.brushUsed) return null;
  const alpha = bctx.getImageData(0, 0, S.brush.width, S.brush.height).data;
  let any = false;
  for (let i = 3; i < alpha.length; i += 4) if (alpha[i] >= 128) { any = true; break; }
  if (!any) return null;
  const out = document.createElement("canvas");
  out.width = S.brush.width; out.height = S.brush.height;
  const o = out.getContext("2d");
  o.fillStyle = "#000";
  o.fillRect(0, 0, out.width, out.height);
  o.drawImage(S.brush, 0, 0);
  return out.toDataURL("image/png");
}

async function save(reviewed) {
  if (!mayOperate || S.busy || !S.labels) return;
  S.busy = true;
  const img = S.images[S.index];
  const brush = brushPng();
  const body = {
    base_revision: S.labels.latest_revision, status: reviewed ? "reviewed" : "labelled",
    boxes: S.boxes.map(b => ({ ...b, bbox: b.bbox.map(v => Math.round(v * 10) / 10) })),
    polygons: S.polygons.map(p => ({ ...p, points: p.points.map(([x, y]) => [Math.round(x * 10) / 10, Math.round(y * 10) / 10]) })),
  };
  if (brush) { body.brush = brush; body.brush_origin = S.brushOrigin || { source: "person" }; }
  try {
    const saved = await api(`/api/images/${img.id}/labels`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    img.label_status = saved.status;
    S.dirty = false;
    status(`Saved ${img.filename} as ${saved.status} (revision ${saved.revision}).`);
    counts().catch(() => {});
    if (S.index < S.images.length - 1) { S.index++; await show(); } else { listImages(); await revisions(img.id); S.labels = saved; }
  } catch (e) {
    status(e.message.startsWith("409") ? `${e.message.slice(4)} (your changes are still here: note them, then reload the image)` : e.message);
  } finally {
    S.busy = false;
  }
}

async function prelabel() {
  if (!mayOperate || !S.labels) return;
  const [task, model] = ($("model").value || "detect|").split("|");
  const q = new URLSearchParams({ task });
  if (model) q.set("model", model);
  status("Asking the model…");
  try {
    const r = await api(`/api/images/${S.images[S.index].id}/prelabel?${q}`, { method: "POST" });
    change();
    if (task === "segment") {
      if (!(await setLayer("data:image/png;base64," + r.brush))) throw new Error("the model's mask did not load");
      S.brushOrigin = r.brush_origin;
      status(`${r.model}: ${r.defect_pixels} defect pixels proposed.`);
    } else {
      S.boxes = S.boxes.filter(b => !isProposal(b)).concat(r.boxes);
      status(`${r.model}: ${r.boxes.length} boxes proposed` + (r.unmapped.length ? `; classes the project lacks: ${r.unmapped.join(", ")}` : "") + ".");
    }
    draw(); listShapes();
  } catch (e) {
    status(e.message);
  }
}

async function models() {
  $("model").replaceChildren(...(await modelOptions()));
}

async function projects() {
  const names = new Set();
  try { (await api("/api/datasets")).items?.forEach(d => names.add(d.project)); } catch (e) { console.warn(e); }
  try { (await api("/api/images?limit=1000")).items.forEach(i => names.add(i.project)); } catch (e) { console.warn(e); }
  $("projects").replaceChildren(...[...names].sort().map(n => el("option", { value: n })));
  const last = localStorage.getItem("annotate.project");
  const fromUrl = new URLSearchParams(location.search).get("project");
  $("project").value = fromUrl || (last && names.has(last) ? last : [...names][0] || "");
}

// ---- keys and buttons -----------------------------------------------------------------------

document.addEventListener("keydown", (ev) => {
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
  const k = ev.key;
  if ((ev.ctrlKey || ev.metaKey) && (k === "z" || k === "Z")) { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if ((ev.ctrlKey || ev.metaKey) && (k === "y" || k === "Y")) { ev.preventDefault(); redo(); return; }
  if ((ev.ctrlKey || ev.metaKey) && k === "Enter") { ev.preventDefault(); save(ev.shiftKey); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tools = { v: "select", b: "box", p: "polygon", m: "brush", e: "eraser", h: "pan" };
  if (tools[k.toLowerCase()] && !ev.shiftKey) { setTool(tools[k.toLowerCase()]); ev.preventDefault(); }
  else if (k === "a" || k === "A") { save(ev.shiftKey); ev.preventDefault(); }
  else if (k === "l" || k === "L") { prelabel(); ev.preventDefault(); }
  else if (k === "Delete" || k === "Backspace") {
    if (S.draft) { S.draft.pop(); if (!S.draft.length) S.draft = null; draw(); } else deleteSelected();
    ev.preventDefault();
  }
  else if (k === "Enter" && S.draft) { closePolygon(); ev.preventDefault(); }
  else if (k === "Escape") { S.draft = null; S.selected = null; draw(); listShapes(); }
  else if (k === "ArrowRight" || k === "n" || k === "N") { go(S.index + 1); ev.preventDefault(); }
  else if (k === "ArrowLeft") { go(S.index - 1); ev.preventDefault(); }
  else if (/^[1-9]$/.test(k)) { setClass(Number(k) - 1); ev.preventDefault(); }
  else if (k === "+" || k === "=") zoomAt(canvas.width / 2, canvas.height / 2, 1.25);
  else if (k === "-") zoomAt(canvas.width / 2, canvas.height / 2, 0.8);
  else if (k === "0") fit();
  else if (k === "[") { S.brushSize = Math.max(2, S.brushSize - 4); $("brush-size").value = S.brushSize; draw(); }
  else if (k === "]") { S.brushSize = Math.min(120, S.brushSize + 4); $("brush-size").value = S.brushSize; draw(); }
  else if (k === " ") { S.space = true; canvas.style.cursor = "grab"; ev.preventDefault(); }
});
document.addEventListener("keyup", (ev) => { if (ev.key === " ") { S.space = false; setTool(S.tool); } });

document.querySelectorAll("[data-tool]").forEach(b => b.addEventListener("click", () => setTool(b.dataset.tool)));
$("brush-size").addEventListener("input", (e) => { S.brushSize = Number(e.target.value); });
$("open").addEventListener("click", () => open().catch(e => status(e.message)));
$("status-filter").addEventListener("change", () => open().catch(e => status(e.message)));
$("project").addEventListener("change", () => open().catch(e => status(e.message)));
$("more").addEventListener("click", () => loadMore().catch(e => status(e.message)));
$("prev").addEventListener("click", () => go(S.index - 1));
$("next").addEventListener("click", () => go(S.index + 1));
$("fit").addEventListener("click", fit);
if (mayOperate) {
  $("save").addEventListener("click", () => save(false));
  $("review").addEventListener("click", () => save(true));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("delete").addEventListener("click", deleteSelected);
  $("prelabel").addEventListener("click", prelabel);
}
if (mayManage) {
  $("edit-classes").addEventListener("click", () => (S.project ? showClassEditor() : status("Open a project first.")));
  $("class-add").addEventListener("click", () => $("class-editor").append(classRow(undefined, $("class-editor").children.length)));
  $("class-save").addEventListener("click", saveClasses);
}
window.addEventListener("resize", () => fit());
window.addEventListener("beforeunload", (ev) => { if (S.dirty) ev.preventDefault(); });
setTool("select");
models();
projects().then(() => ($("project").value ? open() : status("Name a project to annotate."))).catch(e => status(e.message));
