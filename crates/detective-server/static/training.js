// Training page: start form, the job list (refreshed), and one job's live view
// over server-sent events: loss and mAP curves (the server's SVG), progress, ETA, log,
// stop and register buttons.
import { api, chart, el, when } from "/static/common.js";

const root = document.getElementById("training-page");
const mayOperate = root.dataset.mayOperate === "true";
let datasets = [];
let selected = null;
let source = null;

function duration(s) {
  if (typeof s !== "number" || !isFinite(s)) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function statusBadge(j) {
  return el("span", { class: `job-status job-${j.status}` }, j.stop_requested && j.status === "running" ? "stopping" : j.status);
}

function progress(j) {
  const pct = Math.round(100 * (j.fraction || 0));
  return el("span", { class: "progress-cell" },
    el("progress", { max: 100, value: pct, "aria-label": `job ${j.id} progress` }), ` ${j.epoch}/${j.epochs}`);
}

async function loadJobs() {
  const list = await api("/api/training?limit=50");
  const body = document.querySelector("#jobs tbody");
  if (list.items.length === 0) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No job yet.")));
    return;
  }
  body.replaceChildren(...list.items.map(j => {
    const ds = datasets.find(d => d.id === j.dataset_id);
    const row = el("tr", { class: "clickable" + (selected === j.id ? " selected" : ""), tabindex: 0, "data-job": j.id },
      el("td", {}, `#${j.id}`),
      el("td", {}, statusBadge(j)),
      el("td", {}, `${ds ? ds.name : "dataset " + j.dataset_id} v${j.dataset_version}`),
      el("td", {}, `${j.model_name} (${j.params.model})${j.base_model ? " ← " + j.base_model : ""}`),
      el("td", {}, progress(j)),
      el("td", {}, j.status === "running" ? duration(j.eta_s) : "–"),
      el("td", {}, el("time", { datetime: j.created_at }, when(j.created_at))));
    row.addEventListener("click", () => open(j.id));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(j.id); });
    return row;
  }));
}

/** Job `id`'s loss and mAP curves, drawn by the server. */
async function drawCurves(id) {
  await Promise.all([
    chart(document.getElementById("loss-chart"), `/api/training/${id}/charts/loss.svg`),
    chart(document.getElementById("map-chart"), `/api/training/${id}/charts/map.svg`),
  ]);
}

// The job's MLflow side, when mirroring is on: calls still waiting, its run.
function showMlflow(m) {
  const box = document.getElementById("job-mlflow");
  box.hidden = !m;
  if (!m) return;
  const parts = [el("span", {}, `MLflow: ${m.pending} pending`)];
  if (m.failed) parts.push(el("span", { class: "error" }, ` · ${m.failed} refused`));
  if (m.pending && m.last_error) parts.push(el("span", { class: "muted" }, ` · ${m.last_error}`));
  if (m.run) parts.push(" · ", el("a", { href: m.run.url, target: "_blank", rel: "noopener" }, "run in MLflow ↗"));
  box.dataset.pending = m.pending;
  box.replaceChildren(...parts);
}

function showJob(j) {
  const card = document.getElementById("job");
  card.hidden = false;
  card.classList.toggle("running", j.status === "running");
  const ds = datasets.find(d => d.id === j.dataset_id);
  document.getElementById("job-h").textContent =
    `Job #${j.id}: ${j.model_name} on ${ds ? ds.name : "dataset " + j.dataset_id} v${j.dataset_version}`;
  const p = j.progress || {};
  const parts = [`Status ${j.stop_requested && j.status === "running" ? "stopping" : j.status}`, `epoch ${j.epoch}/${j.epochs}`];
  if (j.status === "running" && p.batch) parts.push(`batch ${p.batch}/${p.batches}`, `${Math.round(p.images_per_sec || 0)} images/s`, `ETA ${duration(j.eta_s)}`);
  if (j.metrics && typeof j.metrics.map50 === "number") parts.push(`mAP50 ${j.metrics.map50.toFixed(3)}`, `mAP50-95 ${j.metrics.map50_95.toFixed(3)}`);
  if (j.error) parts.push(`error: ${j.error}`);
  document.getElementById("job-status").textContent = parts.join(" · ");
  if ("mlflow" in j) showMlflow(j.mlflow);
  document.getElementById("stop").hidden = !mayOperate || !(j.status === "queued" || j.status === "running") || j.stop_requested;
  document.getElementById("register").hidden = !mayOperate || !(j.status === "succeeded" || j.status === "stopped") || !j.artifact_key;
}

async function open(id) {
  selected = id;
  if (source) source.close();
  const j = await api(`/api/training/${id}`);
  drawCurves(id).catch((e) => console.warn(e));
  document.getElementById("job-log").textContent = j.log || "";
  showJob(j);
  for (const r of document.querySelectorAll("#jobs tbody tr")) r.classList.toggle("selected", Number(r.dataset.job) === id);
  if (["succeeded", "failed", "stopped"].includes(j.status)) return;
  source = new EventSource(`/api/training/${id}/events`);
  let first = true;
  source.addEventListener("epoch", () => drawCurves(id).catch((e) => console.warn(e)));
  source.addEventListener("log", (e) => {
    const log = document.getElementById("job-log");
    // The first event repeats the whole log, which the page already shows.
    if (first) { log.textContent = ""; first = false; }
    log.textContent += e.data + "\n";
    log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("job", (e) => showJob(JSON.parse(e.data)));
  source.addEventListener("end", () => { source.close(); source = null; loadJobs(); open(id); });
}

async function loadDatasets() {
  datasets = (await api("/api/datasets")).items;
  if (!mayOperate) return;
  const s = document.getElementById("t-dataset");
  s.replaceChildren(...datasets.map(d => el("option", { value: d.id }, `${d.name} (${d.project}, ${d.task})`)));
  const versions = () => {
    const d = datasets.find(x => String(x.id) === s.value);
    document.getElementById("t-version").replaceChildren(...(d ? d.versions : []).slice().reverse().map(v =>
      el("option", { value: v.version }, `v${v.version}: ${v.n_images} images (train ${v.splits.train || 0}, val ${v.splits.val || 0})`)));
  };
  s.addEventListener("change", versions);
  versions();
  const models = (await api("/api/models")).items;
  const base = document.getElementById("t-base");
  // Our pretrained detector is a YOLOv8t: the size follows it.
  base.addEventListener("change", () => { if (base.value === "bundled") document.getElementById("t-model").value = "t"; });
  for (const m of models) {
    for (const v of (await api(`/api/models/${encodeURIComponent(m.name)}/versions`)).items) {
      base.append(el("option", { value: `${m.name}@${v.version}` }, `${m.name}@${v.version} (${m.task}, ${v.stage})`));
    }
  }
}

if (mayOperate) {
  document.getElementById("start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = {
      dataset_id: Number(f.get("dataset_id")), dataset_version: Number(f.get("dataset_version")) || null,
      model: f.get("model"), epochs: Number(f.get("epochs")), imgsz: Number(f.get("imgsz")), batch: Number(f.get("batch")),
    };
    // A segment dataset trains the segmenter (UNetTiny: no size to choose).
    const d = datasets.find(x => x.id === body.dataset_id);
    if (d && d.task === "segment") { body.task = "segment"; delete body.model; }
    // An anomaly model (UNetTiny) learns the dataset's good images (empty labels) only.
    if (f.get("task") === "anomaly") { body.task = "anomaly"; delete body.model; }
    if (f.get("base_model")) body.base_model = f.get("base_model");
    if (f.get("model_name")) body.model_name = f.get("model_name");
    const status = document.getElementById("start-status");
    try {
      const j = await api("/api/training/start", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      status.textContent = `Job #${j.id} queued.`;
      await loadJobs();
      open(j.id);
    } catch (e) {
      status.textContent = e.message;
    }
  });
  document.getElementById("stop").addEventListener("click", async () => {
    if (selected === null) return;
    try {
      showJob(await api(`/api/training/${selected}/stop`, { method: "POST" }));
    } catch (e) { document.getElementById("job-status").textContent = e.message; }
  });
  document.getElementById("register").addEventListener("click", async () => {
    if (selected === null) return;
    const status = document.getElementById("job-status");
    status.textContent = "Registering (exporting ONNX)…";
    try {
      const v = await api("/api/models/register", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ job_id: selected }) });
      status.replaceChildren(`Registered as ${v.name}@${v.version} (stage ${v.stage}). `, el("a", { href: "/models" }, "Open Models"));
      document.getElementById("register").hidden = true;
    } catch (e) { status.textContent = e.message; }
  });
}

async function loadRetraining() {
  const [c, events] = await Promise.all([api("/api/retraining/conditions"), api("/api/retraining/events")]);
  const verdict = document.getElementById("rt-verdict");
  verdict.textContent = c.should_retrain
    ? (c.blocked.length ? "A retraining is called for, but waits: " + c.blocked.join("; ") + "."
      : c.auto_retrain ? "A retraining is called for; the policy starts it at its next run." : "A retraining is called for (automatic retraining is off).")
    : "No retraining is called for." + (c.blocked.length ? " (" + c.blocked.join("; ") + ")" : "");
  document.getElementById("rt-reasons").replaceChildren(...c.reasons.map(r => el("li", {}, r)));
  document.getElementById("rt-figures").textContent =
    `drift: ${c.drift_detected ? "detected" : "none"}${typeof c.drift_share === "number" ? ` (share ${c.drift_share.toFixed(2)})` : ""} · ` +
    `new labels ${c.new_labels} of ${c.threshold_labels} · Production ${c.production ? c.production.model + ` (dataset ${c.production.dataset_id} v${c.production.dataset_version})` : "none trained on a dataset"}`;
  const body = document.querySelector("#events tbody");
  if (events.items.length === 0) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No retraining yet.")));
  } else {
    body.replaceChildren(...events.items.map(e => el("tr", {},
      el("td", {}, `#${e.id}`), el("td", {}, el("time", { datetime: e.created_at }, when(e.created_at))), el("td", {}, e.kind),
      el("td", { class: "small" }, (e.reasons || []).join("; ")),
      el("td", {}, e.dataset_id ? `${e.dataset_id} v${e.dataset_version}` : "–"),
      el("td", {}, e.job_id ? el("a", { href: `/training?job=${e.job_id}` }, `#${e.job_id}`) : "–"),
      el("td", { class: "small" }, el("span", { class: `job-status job-${e.outcome === "pending" ? "running" : e.outcome === "failed" ? "failed" : e.outcome === "not_better" ? "stopped" : "succeeded"}` }, e.outcome),
        e.detail ? " " + e.detail : ""))));
  }
}

async function loadPolicy() {
  const p = await api("/api/retraining/policy");
  document.getElementById("p-auto").checked = p.auto_retrain;
  document.getElementById("p-drift").checked = p.retrain_on_drift;
  document.getElementById("p-labels").value = p.threshold_labels;
  document.getElementById("p-epochs").value = p.epochs;
  document.getElementById("p-cool").value = p.cooldown_secs / 3600;
  document.getElementById("p-prod").checked = p.auto_promote_production;
}

if (mayOperate) {
  document.getElementById("trigger").addEventListener("click", async () => {
    const s = document.getElementById("rt-status");
    s.textContent = "Building the dataset version and queueing the job…";
    try {
      const e = await api("/api/retraining/trigger", { method: "POST" });
      s.textContent = `Retraining #${e.id} started: dataset ${e.dataset_id} v${e.dataset_version}, job #${e.job_id}.`;
      await Promise.all([loadRetraining(), loadJobs()]);
    } catch (e) { s.textContent = e.message; }
  });
  document.getElementById("policy").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = {
      auto_retrain: f.get("auto_retrain") === "on", retrain_on_drift: f.get("retrain_on_drift") === "on",
      threshold_labels: Number(f.get("threshold_labels")), epochs: Number(f.get("epochs")),
      cooldown_secs: Math.round(Number(f.get("cooldown_h")) * 3600), auto_promote_production: f.get("auto_promote_production") === "on",
    };
    const s = document.getElementById("rt-status");
    try {
      await api("/api/retraining/policy", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      s.textContent = "Policy saved.";
      await loadRetraining();
    } catch (e) { s.textContent = e.message; }
  });
  loadPolicy().catch(() => {});
}

await loadDatasets().catch(() => {});
await loadJobs();
loadRetraining().catch(() => {});
setInterval(() => loadRetraining().catch(() => {}), 5000);
const wanted = Number(new URLSearchParams(location.search).get("job"));
if (wanted) open(wanted);
setInterval(() => loadJobs().catch(() => {}), 3000);
