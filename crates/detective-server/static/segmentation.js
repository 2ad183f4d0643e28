// Segmentation lab: one or two epoch checkpoints of a segmentation run side by
// side on a validation sample (with its ground truth, Dice and IoU) or an
// uploaded image; the threshold slider re-runs the comparison.
import { api, el } from "./common.js";

const $ = (id) => document.getElementById(id);
let runs = [];
let upload = null; // base64 of a chosen file

function fill(select, values, label = (v) => v) {
  select.replaceChildren(...values.map((v) => el("option", { value: String(v) }, label(v))));
}

async function chooseRun() {
  const run = runs.find((r) => r.name === $("s-run").value);
  if (!run) return;
  fill($("s-a"), run.epochs);
  $("s-a").value = String(run.epochs[0]);
  fill($("s-b"), ["", ...run.epochs], (v) => (v === "" ? "none" : String(v)));
  $("s-b").value = String(run.epochs[run.epochs.length - 1]);
  // an anomaly model's calibrated threshold sits close to 1: a finer slider
  const fine = run.task === "anomaly";
  $("s-thr").max = fine ? "0.999" : "0.95";
  $("s-thr").step = fine ? "0.001" : "0.05";
  $("s-thr").value = String(run.threshold);
  $("s-thr-out").textContent = Number(run.threshold).toFixed(fine ? 3 : 2);
  const s = await api(`/api/segmentation/runs/${encodeURIComponent(run.name)}/samples`);
  fill($("s-sample"), s.items.map((i) => i.name), (n) => {
    const item = s.items.find((i) => i.name === n);
    return item.has_mask ? n : `${n} (no defect)`;
  });
}

function card(title, src, caption) {
  return el("figure", { class: "seg-card" },
    el("img", { src, alt: title }),
    el("figcaption", {}, el("b", {}, title), caption ? el("div", { class: "metric" }, caption) : null));
}

async function compare() {
  const epochs = [$("s-a").value, $("s-b").value].filter((v) => v !== "").map(Number);
  const body = { run: $("s-run").value, epochs: [...new Set(epochs)], threshold: Number($("s-thr").value),
    device: $("s-device").value };
  if (upload) body.image = upload; else body.sample = $("s-sample").value;
  $("s-status").textContent = "Running…";
  let r;
  try {
    r = await api("/api/segmentation/compare", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
  } catch (e) {
    $("s-status").textContent = `Error: ${e.message}`;
    return;
  }
  const cards = [card("Input", r.input)];
  if (r.truth) cards.push(card("Ground truth", r.truth));
  for (const x of r.results) {
    const score = x.dice == null ? `${x.defect_pixels} defect pixels`
      : `Dice ${x.dice.toFixed(3)} · IoU ${x.iou.toFixed(3)}`;
    cards.push(card(`Epoch ${x.epoch}: probabilities`, x.heatmap, `${Math.round(x.ms)} ms`));
    cards.push(card(`Epoch ${x.epoch}: overlay`, x.overlay, score));
  }
  $("seg-grid").replaceChildren(...cards);
  $("results").hidden = false;
  $("s-status").textContent = `threshold ${r.threshold.toFixed(3)} on ${r.device}` + (r.device_note ? ` (${r.device_note})` : "");
}

let timer = null;
$("s-thr").addEventListener("input", () => {
  $("s-thr-out").textContent = Number($("s-thr").value).toFixed($("s-thr").step === "0.001" ? 3 : 2);
  if ($("results").hidden || !document.querySelector("#lab button")) return;
  clearTimeout(timer);
  timer = setTimeout(compare, 300);
});
$("s-run").addEventListener("change", chooseRun);
$("s-sample").addEventListener("change", () => { upload = null; $("s-file").value = ""; });
$("s-file").addEventListener("change", () => {
  const f = $("s-file").files[0];
  if (!f) { upload = null; return; }
  const reader = new FileReader();
  reader.onload = () => { upload = String(reader.result).split(",")[1]; };
  reader.readAsDataURL(f);
});
$("lab").addEventListener("submit", (e) => { e.preventDefault(); compare(); });

// The devices of this server: usable ones to choose, the others shown with why
// not; `auto` takes the first usable GPU, else the CPU.
async function devices() {
  const d = await api("/api/devices");
  $("s-device").replaceChildren(
    el("option", { value: "auto" }, "auto"),
    ...d.items.map((x) => el("option", { value: x.name, disabled: !x.available, title: x.detail },
      x.available ? `${x.name} (${x.detail})` : `${x.name}: unavailable`)));
  $("s-device").value = "cpu";
}

(async () => {
  await devices();
  const r = await api("/api/segmentation/runs");
  runs = r.items;
  if (!runs.length) { $("s-empty").hidden = false; return; }
  fill($("s-run"), runs.map((x) => x.name), (n) => {
    const r = runs.find((x) => x.name === n);
    return r && r.task === "anomaly" ? `${n} (anomaly model)` : n;
  });
  await chooseRun();
})();
