// Settings → inspection rules: per-class thresholds and zones for a model
// version and/or a camera. Zones are drawn by clicking corners on the camera's
// last kept frame (corners stored as fractions of the frame); rule sets are
// listed, edited and removed through /api/rules.
import { api, el, when } from "./common.js";

const $ = (id) => document.getElementById(id);
const mayOperate = document.querySelector('script[src="/static/rules.js"]').dataset.mayOperate === "true";
const SVG = "http://www.w3.org/2000/svg";

/** The rule set being edited: its scope, zones, class rows and the corners placed. */
const editing = { camera: "", model: "", zones: [], corners: [] };

async function ruleSets() {
  const page = await api("/api/rules");
  const body = $("rule-sets").querySelector("tbody");
  if (!page.items.length) return;
  body.replaceChildren(...page.items.map((r) => el("tr", {},
    el("td", {}, r.scope.model || "every model"), el("td", {}, r.scope.camera || "every camera"),
    el("td", {}, Object.entries(r.rules.classes || {}).map(([n, c]) =>
      `${n}: ${["conf", "uncertain_low", "uncertain_high"].filter((k) => c[k] != null).map((k) => `${k} ${c[k]}`).join(", ")}`).join("; ") || "–"),
    el("td", {}, r.rules.zones ? r.rules.zones.map((z) => `${z.name} (${z.kind})`).join(", ") || "none" : "–"),
    el("td", {}, r.updated_by), el("td", {}, when(r.updated_at)),
    el("td", {}, mayOperate ? el("button", { type: "button", onclick: () => remove(r.scope) }, "Remove") : ""))));
}

async function remove(scope) {
  const what = `${scope.model || "every model"} on ${scope.camera || "every camera"}`;
  if (!confirm(`Remove the rules of ${what}?`)) return;
  const q = new URLSearchParams();
  if (scope.model) q.set("model", scope.model);
  if (scope.camera) q.set("camera", scope.camera);
  await api(`/api/rules?${q}`, { method: "DELETE" });
  location.reload();
}

async function scopeChoices() {
  const m = await api("/api/metrics");
  $("r-camera").append(...m.cameras.map((c) => el("option", { value: c.id }, c.id)));
  const models = await api("/api/models");
  for (const mod of models.items || models) {
    const versions = await api(`/api/models/${encodeURIComponent(mod.name)}/versions`);
    $("r-models").append(...(versions.items || versions).map((v) => el("option", { value: `${v.name}@${v.version}` })));
  }
}

/** The camera's last kept frame under the zone canvas, and the class names it showed. */
async function showFrame(camera) {
  const img = $("r-frame");
  img.removeAttribute("src");
  if (!camera) {
    $("r-frame-note").textContent = "Pick a camera to draw zones on its frame (zones of every camera apply to all).";
    return;
  }
  const page = await api(`/api/inspection-logs?camera=${encodeURIComponent(camera)}&limit=50`);
  const names = new Set(page.items.flatMap((p) => p.detections.map((d) => d.name)));
  $("r-class-names").replaceChildren(...[...names].map((n) => el("option", { value: n })));
  const withFrame = page.items.find((p) => p.frame_key);
  if (!withFrame) {
    $("r-frame-note").textContent = "This camera has no kept frame yet; corners can still be placed on the blank area.";
    return;
  }
  img.src = `/api/inspection-logs/${withFrame.id}/frame`;
  $("r-frame-note").textContent = `Frame of ${when(withFrame.captured_at)}. Click to place the corners of a zone.`;
}

function drawZones() {
  const svg = $("r-zones");
  const shapes = editing.zones.map((z) => {
    const p = document.createElementNS(SVG, "polygon");
    p.setAttribute("points", z.points.map(([x, y]) => `${x},${y}`).join(" "));
    p.setAttribute("class", z.kind);
    return p;
  });
  if (editing.corners.length) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", editing.corners.map(([x, y]) => `${x},${y}`).join(" "));
    shapes.push(line);
    for (const [x, y] of editing.corners) {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", 0.008);
      shapes.push(c);
    }
  }
  svg.replaceChildren(...shapes);
  $("r-zone-list").replaceChildren(...editing.zones.map((z, i) => el("li", {},
    `${z.name} — ${z.kind === "ignore" ? "ignored" : "inspected only"}, ${z.points.length} corners `,
    el("button", { type: "button", onclick: () => { editing.zones.splice(i, 1); drawZones(); } }, "Remove"))));
}

function classRow(name = "", c = {}) {
  const num = (k, label) => el("input", { type: "number", min: 0, max: 1, step: 0.01, "data-k": k, "aria-label": label, value: c[k] ?? "" });
  $("r-classes").querySelector("tbody").append(el("tr", {},
    el("td", {}, el("input", { "data-k": "name", list: "r-class-names", value: name, "aria-label": "class name", placeholder: "scratch" })),
    el("td", {}, num("conf", "threshold")), el("td", {}, num("uncertain_low", "uncertain from")),
    el("td", {}, num("uncertain_high", "uncertain below")),
    el("td", {}, el("button", { type: "button", onclick: (e) => e.target.closest("tr").remove() }, "Remove"))));
}

async function edit(camera, model) {
  Object.assign(editing, { camera, model, zones: [], corners: [] });
  const page = await api("/api/rules");
  const found = page.items.find((r) => (r.scope.camera || "") === camera && (r.scope.model || "") === model);
  const rules = found ? found.rules : {};
  editing.zones = (rules.zones || []).map((z) => ({ ...z }));
  $("r-classes").querySelector("tbody").replaceChildren();
  for (const [n, c] of Object.entries(rules.classes || {})) classRow(n, c);
  $("rules-editor").hidden = false;
  drawZones();
  await showFrame(camera);
}

function collect() {
  const classes = {};
  for (const tr of $("r-classes").querySelectorAll("tbody tr")) {
    const get = (k) => tr.querySelector(`[data-k="${k}"]`).value.trim();
    const name = get("name");
    if (!name) continue;
    const c = {};
    for (const k of ["conf", "uncertain_low", "uncertain_high"]) if (get(k) !== "") c[k] = Number(get(k));
    classes[name] = c;
  }
  const body = { rules: { classes, zones: editing.zones } };
  if (editing.camera) body.camera = editing.camera;
  if (editing.model) body.model = editing.model;
  return body;
}

if (mayOperate) {
  $("rules-scope").addEventListener("submit", (e) => {
    e.preventDefault();
    edit($("r-camera").value, $("r-model").value.trim()).catch((err) => { $("r-status").textContent = err.message; });
  });
  $("r-canvas").addEventListener("click", (e) => {
    const box = $("r-canvas").getBoundingClientRect();
    const fx = (e.clientX - box.left) / box.width, fy = (e.clientY - box.top) / box.height;
    if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return;
    editing.corners.push([Math.round(fx * 1000) / 1000, Math.round(fy * 1000) / 1000]);
    drawZones();
  });
  $("r-zone-clear").addEventListener("click", () => { editing.corners = []; drawZones(); });
  $("r-zone").addEventListener("submit", (e) => {
    e.preventDefault();
    if (editing.corners.length < 3) {
      $("r-status").className = "small error";
      $("r-status").textContent = "A zone needs at least 3 corners: click on the frame.";
      return;
    }
    editing.zones.push({ name: $("r-zone-name").value.trim(), kind: $("r-zone-kind").value, points: editing.corners });
    editing.corners = [];
    $("r-zone").reset();
    drawZones();
  });
  $("r-add-class").addEventListener("click", () => classRow());
  $("r-save").addEventListener("click", async () => {
    try {
      const r = await api("/api/rules", {
        method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(collect()),
      });
      $("r-status").className = "small";
      $("r-status").textContent = `Saved: ${Object.keys(r.effective.classes).length} class rules and ${r.effective.zones.length} zones in effect here.`;
      ruleSets();
    } catch (err) {
      $("r-status").className = "small error";
      $("r-status").textContent = err.message;
    }
  });
  scopeChoices().catch(() => {});
}
ruleSets();
