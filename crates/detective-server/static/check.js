// Check an image: drop any image (or name an uploaded one), pick a model and a
// camera, and see the model's boxes (detector) or heatmap (segmenter) at once,
// with the inspection rules of that camera. Nothing is stored unless "Add to
// project" uploads the image, which then waits on the Annotate page.
import { api, el, chip, drawDetections, modelOptions } from "./common.js";

const $ = (id) => document.getElementById(id);
const root = $("check-page");
const mayPredict = root.dataset.mayPredict === "true";
let blob = null; // the image being checked
let fileName = "checked.png";

function status(text) { $("c-status").textContent = text; }

async function models() {
  $("c-model").replaceChildren(...(await modelOptions()));
}

async function cameras() {
  try {
    const m = await api("/api/metrics");
    $("c-camera").append(...m.cameras.map(c => el("option", { value: c.id }, c.id)));
  } catch (e) { console.warn(e); }
}

async function imageOf() {
  const f = $("c-file").files[0];
  if (f) { fileName = f.name; return f; }
  const id = $("c-image").value;
  if (!id) throw new Error("Drop an image or name an uploaded one.");
  const r = await fetch(`/api/images/${encodeURIComponent(id)}/file`, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`image ${id}: ${r.status}`);
  fileName = `image-${id}`;
  return r.blob();
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", credentials: "same-origin", body });
  const type = r.headers.get("content-type") || "";
  if (!r.ok) {
    const err = type.includes("json") ? (await r.json()).detail : r.statusText;
    throw new Error(`${r.status} ${err}`);
  }
  return type.includes("json") ? r.json() : r.blob();
}

function paint(img, detections, width, height) {
  const cv = $("c-canvas");
  const maxW = cv.parentElement.clientWidth || 900;
  const scale = Math.min(1, maxW / img.naturalWidth);
  cv.width = Math.round(img.naturalWidth * scale);
  cv.height = Math.round(img.naturalHeight * scale);
  const ctx = cv.getContext("2d");
  ctx.drawImage(img, 0, 0, cv.width, cv.height);
  if (detections) drawDetections(ctx, detections, cv.width / width, cv.height / height);
}

function loadImage(b) {
  return new Promise((ok, fail) => {
    const img = new Image();
    img.onload = () => ok(img);
    img.onerror = () => fail(new Error("the browser cannot show this image"));
    img.src = URL.createObjectURL(b);
  });
}

async function run() {
  if (!mayPredict) { status("Running a model needs an operator or admin key."); return; }
  status("Running the model…");
  blob = await imageOf();
  const [task, model] = $("c-model").value.split("|");
  const q = new URLSearchParams({ task });
  if (model) q.set("model", model);
  if ($("c-camera").value) q.set("camera", $("c-camera").value);
  const answer = await post(`/api/inference/predict?${q}`, blob);
  $("c-result").hidden = false;
  if (task === "segment") {
    q.set("annotated", "true");
    const heat = await post(`/api/inference/predict?${q}`, blob);
    paint(await loadImage(heat), null);
    $("c-summary").textContent = `${answer.model.name}: ${answer.defect_pixels} defect pixels, ${answer.detections.length} regions (threshold ${answer.threshold.toFixed(2)}).`;
  } else {
    paint(await loadImage(blob), answer.detections, answer.image.width, answer.image.height);
    const v = answer.model.version ? ` v${answer.model.version}` : "";
    $("c-summary").textContent = `${answer.model.name}${v}: ${answer.detections.length} detection${answer.detections.length === 1 ? "" : "s"} in ${answer.timings_ms.total.toFixed(0)} ms.`;
  }
  $("c-canvas").dataset.detections = String(answer.detections.length);
  $("c-detections").replaceChildren(...answer.detections.map(d => el("li", {}, chip(d), d.uncertain ? el("span", { class: "muted small" }, " uncertain") : "")));
  status("");
}

async function addToProject() {
  if (!blob) return;
  const project = $("c-project").value.trim();
  const body = new FormData();
  body.append("project", project);
  body.append("file", blob, /\.[a-z]+$/i.test(fileName) ? fileName : `${fileName}.${(blob.type.split("/")[1] || "png")}`);
  try {
    const r = await post("/api/images/upload", body);
    const f = r.files[0];
    if (f.status === "refused") { status(`Refused: ${f.reason}`); return; }
    status("");
    $("c-status").append(`Added to ${project} as image ${f.id}${f.status === "duplicate" ? " (it was there already)" : ""}: `,
      el("a", { href: `/annotate?project=${encodeURIComponent(project)}`, id: "c-annotate" }, "annotate it"), ".");
    $("c-status").dataset.image = String(f.id);
  } catch (e) {
    status(e.message);
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) { $("c-file").files = e.dataTransfer.files; run().catch(err => status(err.message)); }
});
$("c-file").addEventListener("change", () => run().catch(err => status(err.message)));
$("c-run").addEventListener("click", () => run().catch(err => status(err.message)));
if ($("c-add-btn")) $("c-add-btn").addEventListener("click", addToProject);
models();
cameras();
