// Models page: every registered model with its versions (stage, metrics, dataset
// version), stage buttons, rollback and registration of a model file (an
// Ultralytics .pt or .onnx, or ours) for operators, and a side-by-side
// comparison of two versions with per-class deltas.
import { api, el, when } from "/static/common.js";

const root = document.getElementById("models-page");
const mayOperate = root.dataset.mayOperate === "true";
const errorBox = document.getElementById("m-error");

function fmt(x) {
  return typeof x === "number" ? x.toFixed(3) : "–";
}

function showError(e) {
  errorBox.textContent = e.message || String(e);
  errorBox.hidden = false;
}

async function setStage(name, version, stage) {
  errorBox.hidden = true;
  try {
    await api(`/api/models/${encodeURIComponent(name)}/versions/${version}/stage`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ stage }),
    });
    await load();
  } catch (e) { showError(e); }
}

async function rollback(name) {
  errorBox.hidden = true;
  try {
    const r = await api(`/api/models/${encodeURIComponent(name)}/rollback`, { method: "POST" });
    await load();
    document.getElementById("c-status").textContent =
      `${name}: version ${r.restored.version} is Production again, version ${r.archived.version} archived.`;
  } catch (e) { showError(e); }
}

function versionRow(m, v) {
  const metrics = v.metrics || {};
  const actions = mayOperate ? el("td", {}, el("div", { class: "actions" },
    ["Staging", "Production", "Archived"].filter(s => s !== v.stage).map(s =>
      el("button", { type: "button", class: s === "Production" ? "primary" : "", "data-stage": s,
        "aria-label": `${m.name} version ${v.version} to ${s}`, onclick: () => setStage(m.name, v.version, s) },
        s === "Archived" ? "Archive" : s)))) : null;
  return el("tr", { "data-version": v.version },
    el("td", {}, `${m.name}@${v.version}`),
    el("td", {}, el("span", { class: `stage-badge stage-${v.stage}` }, v.stage)),
    // A segmenter's columns are its Dice per image and over pixels.
    el("td", { class: "num" }, fmt(m.task === "segment" ? metrics.dice : metrics.map50)),
    el("td", { class: "num" }, fmt(m.task === "segment" ? metrics.dice_pixels : metrics.map50_95)),
    el("td", { class: "num" }, fmt(metrics.fitness)),
    el("td", { class: "small muted" }, v.params && v.params.job_id ? `job ${v.params.job_id}` : (v.params && v.params.source) || "–",
      v.mlflow ? el("a", { class: "mlflow-link", href: v.mlflow.url, target: "_blank", rel: "noopener" }, ` · MLflow v${v.mlflow.version} ↗`) : ""),
    el("td", {}, el("time", { datetime: v.created_at }, when(v.created_at))),
    actions);
}

let all = [];

async function load() {
  const list = await api("/api/models");
  const box = document.getElementById("models");
  box.replaceChildren();
  all = [];
  if (list.items.length === 0) {
    box.append(el("section", { class: "card" }, el("p", { class: "muted" },
      "No model is registered yet. Register a finished training job on the Training page; until a version is in Production the server runs its own model (see System health).")));
  }
  for (const m of list.items) {
    const versions = (await api(`/api/models/${encodeURIComponent(m.name)}/versions`)).items;
    all.push(...versions.map(v => `${m.name}@${v.version}`));
    const hasProd = versions.some(v => v.stage === "Production");
    box.append(el("section", { class: "card model", "data-model": m.name },
      el("div", { class: "card-head" },
        el("h2", {}, m.name, " ", el("span", { class: "tag" }, m.task)),
        mayOperate && hasProd ? el("button", { type: "button", class: "rollback", onclick: () => rollback(m.name) },
          "Roll back Production") : null),
      el("table", { class: "table" },
        el("thead", {}, el("tr", {}, ["Version", "Stage", ...(m.task === "segment" ? ["Dice", "Dice (pixels)"] : ["mAP50", "mAP50-95"]), "Fitness", "From", "Registered"]
          .map(h => el("th", { scope: "col" }, h)), mayOperate ? el("th", { scope: "col" }, "Move to") : null)),
        el("tbody", {}, versions.map(v => versionRow(m, v))))));
  }
  for (const id of ["c-a", "c-b"]) {
    const s = document.getElementById(id);
    const keep = s.value;
    s.replaceChildren(...all.map(x => el("option", { value: x }, x)));
    if (all.includes(keep)) s.value = keep;
  }
  if (all.length > 1 && document.getElementById("c-a").value === document.getElementById("c-b").value) {
    document.getElementById("c-b").value = all[1];
  }
}

function delta(d) {
  if (typeof d !== "number") return el("td", { class: "num muted" }, "–");
  const cls = d > 0.0005 ? "up" : d < -0.0005 ? "down" : "";
  return el("td", { class: `num delta ${cls}` }, (d > 0 ? "+" : "") + d.toFixed(3));
}

document.getElementById("compare").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  // Two segmenters also come with a few validation images through both.
  const q = new URLSearchParams({ a: f.get("a"), b: f.get("b"), samples: "3" });
  if (f.get("dataset")) q.set("dataset", f.get("dataset"));
  const status = document.getElementById("c-status");
  const out = document.getElementById("c-result");
  status.textContent = "Comparing…";
  out.replaceChildren();
  try {
    const r = await api(`/api/models/compare?${q}`);
    status.textContent = (r.same_validation_set ? "Same validation set" : "Different validation sets") +
      (r.evaluated_now ? " (evaluated now)." : " (as measured at registration).") +
      (r.better === "a" || r.better === "b" ? ` Better by fitness: ${r.better === "a" ? f.get("a") : f.get("b")}.` : "");
    const rows = Object.entries(r.overall).map(([k, v]) =>
      el("tr", {}, el("th", { scope: "row" }, k), el("td", { class: "num" }, fmt(v.a)), el("td", { class: "num" }, fmt(v.b)), delta(v.delta)));
    // Per class: a detector's mAP50 and mAP50-95, a segmenter's Dice and IoU.
    const [k1, k2, h1, h2] = r.task === "segment" ? ["dice", "iou", "Dice", "IoU"] : ["map50", "map50_95", "mAP50", "mAP50-95"];
    const classes = r.per_class.map(c =>
      el("tr", {}, el("th", { scope: "row" }, c.name), el("td", { class: "num" }, fmt(c[k1].a)), el("td", { class: "num" }, fmt(c[k1].b)), delta(c[k1].delta),
        el("td", { class: "num" }, fmt(c[k2].a)), el("td", { class: "num" }, fmt(c[k2].b)), delta(c[k2].delta)));
    out.append(
      el("table", { class: "table compare" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Metric"), el("th", { scope: "col" }, f.get("a")), el("th", { scope: "col" }, f.get("b")), el("th", { scope: "col" }, "B − A"))),
        el("tbody", {}, rows)),
      classes.length ? el("table", { class: "table compare" },
        el("thead", {}, el("tr", {}, ["Class", `${h1} A`, `${h1} B`, "Δ", `${h2} A`, `${h2} B`, "Δ"].map(h => el("th", { scope: "col" }, h)))),
        el("tbody", {}, classes)) : el("p", { class: "muted small" }, "No per-class figures."),
      ...(r.samples || []).map(s => {
        const fig = (title, src, caption) => el("figure", { class: "seg-card" }, el("img", { src, alt: `${title}: ${s.image}` }),
          el("figcaption", {}, el("b", {}, title), caption ? el("div", { class: "metric" }, caption) : null));
        const score = (v) => `Dice ${v.dice.toFixed(3)} · IoU ${v.iou.toFixed(3)}`;
        return el("div", { class: "seg-grid compare-samples" },
          fig(s.image, s.input), fig("Ground truth", s.truth),
          fig(`A: ${f.get("a")}`, s.a.overlay, score(s.a)), fig(`B: ${f.get("b")}`, s.b.overlay, score(s.b)));
      }));
  } catch (e) {
    status.textContent = e.message;
  }
});

const register = document.getElementById("register");
if (register) {
  register.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = document.getElementById("r-status");
    const fd = new FormData();
    fd.append("name", document.getElementById("r-name").value.trim());
    for (const f of document.getElementById("r-file").files) fd.append("file", f, f.name);
    status.textContent = "Uploading and checking…";
    try {
      const v = await api("/api/models/register", { method: "POST", body: fd });
      const p = v.params || {};
      status.textContent = `Registered ${v.name}@${v.version} (${p.format || "?"}` +
        (p.model ? `, YOLOv8${p.model}` : "") + (p.imported_from ? `, imported from ${p.imported_from}` : "") + ").";
      register.reset();
      await load();
    } catch (e) {
      status.textContent = e.message;
    }
  });
}

async function datasets() {
  const list = await api("/api/datasets");
  const s = document.getElementById("c-ds");
  for (const d of list.items) s.append(el("option", { value: d.id }, `${d.name} (latest version)`));
}

load().catch(showError);
datasets().catch(() => {});
