// Datasets & images: upload (drag and drop, one request per image so each has its
// own progress bar), browse and select images, build a dataset or a new version
// from the selection or from the labeling queue's reviewed frames, export as
// YOLOv8 or COCO.
import { api, el } from "./common.js";

const $ = (id) => document.getElementById(id);
const manage = !!$("upload");
const selected = new Set();
const known = new Map(); // image id → image, for the project of a selection
let nextImages = null;

// ---- upload -------------------------------------------------------------------
function stem(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(0, i) : name;
}

/** Uploads one image (and its label and mask, if given) with a progress bar. */
function uploadOne(image, label, mask, form) {
  const bar = el("progress", { max: "100", value: "0", "aria-label": `upload of ${image.name}` });
  const status = el("span", { class: "muted small" }, "waiting");
  const item = el("li", {}, el("span", { class: "file" }, image.name), bar, status);
  $("uploads").prepend(item);
  return new Promise((resolve) => {
    const body = new FormData();
    body.append("project", form.project);
    if (form.tags) body.append("tags", form.tags);
    if (form.split) body.append("split", form.split);
    body.append("file", image, image.name);
    if (label) body.append("file", label, label.name);
    // The server pairs a `mask` part with the image of the same file stem.
    if (mask) body.append("mask", mask, `${stem(image.name)}.png`);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/images/upload");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = "uploading";
    };
    xhr.onload = () => {
      bar.value = 100;
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && answer) {
        const f = answer.files.find((x) => x.file === image.name) || answer.files[0];
        item.className = f.status;
        status.textContent = f.status === "refused" ? `refused: ${f.reason}`
          : f.status + (label ? " with label" : "") + (mask ? " with mask" : "");
      } else {
        item.className = "refused";
        status.textContent = `error ${xhr.status}: ${answer && answer.detail ? answer.detail : xhr.statusText}`;
      }
      resolve();
    };
    xhr.onerror = () => { item.className = "refused"; status.textContent = "network error"; resolve(); };
    xhr.send(body);
  });
}

async function uploadAll(files) {
  const form = Object.fromEntries(new FormData($("upload")));
  if (!/^[A-Za-z0-9._-]+$/.test(form.project)) {
    $("uploads").prepend(el("li", { class: "refused" }, "The project must be letters, digits, '.', '_' or '-'."));
    return;
  }
  const labels = new Map();
  const masks = new Map();
  const images = [];
  for (const f of files) {
    const lower = f.name.toLowerCase();
    if (lower.endsWith(".txt")) labels.set(stem(f.name), f);
    else if (/\.mask\.[a-z]+$/.test(lower)) masks.set(stem(stem(f.name)), f); // NAME.mask.png → NAME
    else images.push(f);
  }
  // Two at a time: steady progress without flooding the server.
  const queue = [...images];
  const worker = async () => {
    while (queue.length) {
      const f = queue.shift();
      await uploadOne(f, labels.get(stem(f.name)), masks.get(stem(f.name)), form);
    }
  };
  await Promise.all([worker(), worker()]);
  $("b-project").value = form.project;
  loadImages(true);
}

if (manage) {
  const drop = $("drop");
  $("u-files").addEventListener("change", (e) => uploadAll([...e.target.files]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    uploadAll([...e.dataTransfer.files]);
  });
}

// ---- browse and select ---------------------------------------------------------
function showSelected() {
  $("selected").textContent = `${selected.size} selected`;
}

function tile(img) {
  known.set(img.id, img);
  const box = el("input", { type: "checkbox", "aria-label": `select ${img.filename}`, checked: selected.has(img.id) });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(img.id); else selected.delete(img.id);
    showSelected();
  });
  return el("label", { class: "thumb selectable", "data-id": String(img.id) },
    el("img", { src: `/api/images/${img.id}/file`, alt: img.filename, loading: "lazy" }),
    el("div", { class: "thumb-caption" },
      el("span", {}, box, " ", img.filename),
      el("span", { class: "muted" }, `${img.width}×${img.height} · ${img.project}${img.split ? " · " + img.split : ""}`),
      img.tags.length ? el("span", {}, img.tags.map((t) => el("span", { class: "tag" }, t))) : null));
}

async function loadImages(reset) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("browse"))) if (v) q.set(k, v);
  q.set("limit", "60");
  if (!reset && nextImages) q.set("cursor", nextImages);
  const page = await api(`/api/images?${q}`);
  if (reset) $("images").replaceChildren();
  if (reset && !page.items.length) $("images").append(el("p", { class: "muted" }, "No image matches."));
  for (const img of page.items) $("images").append(tile(img));
  nextImages = page.next;
  $("more-images").hidden = !nextImages;
}

$("browse").addEventListener("submit", (e) => { e.preventDefault(); loadImages(true); });
$("more-images").addEventListener("click", () => loadImages(false));

// ---- datasets ------------------------------------------------------------------
async function loadDatasets() {
  const page = await api("/api/datasets");
  if (!page.items.length) return;
  $("datasets").querySelector("tbody").replaceChildren(...page.items.map((d) => {
    const v = d.versions[d.versions.length - 1];
    const splits = v ? Object.entries(v.splits).map(([k, n]) => `${k} ${n}`).join(", ") : "";
    const cells = [
      el("td", {}, d.name),
      el("td", {}, d.project),
      el("td", {}, d.task),
      el("td", {}, d.classes.join(", ")),
      el("td", {}, v ? `v${v.version}: ${v.n_images} image${v.n_images === 1 ? "" : "s"} (${splits})` : "–"),
      el("td", {},
        el("a", { class: "button", href: `/api/datasets/${d.id}/export?format=yolov8`, download: `${d.name}-yolov8.zip` }, "YOLOv8"), " ",
        el("a", { class: "button", href: `/api/datasets/${d.id}/export?format=coco`, download: `${d.name}-coco.zip` }, "COCO")),
    ];
    if (manage) {
      cells.push(el("td", {}, el("button", { type: "button", onclick: () => addVersion(d) }, "Add as new version")));
    }
    return el("tr", { "data-id": String(d.id) }, cells);
  }));
}

async function addVersion(d) {
  if (!selected.size) { $("create-status").textContent = "Select images first."; return; }
  try {
    await api(`/api/datasets/${d.id}/versions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ add: [...selected], note: "from the dashboard" }),
    });
    $("create-status").textContent = `${d.name}: new version with ${selected.size} more images.`;
    loadDatasets();
  } catch (e) {
    $("create-status").textContent = `Error: ${e.message}`;
  }
}

if (manage) {
  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("create")));
    if (!selected.size) { $("create-status").textContent = "Select images first."; return; }
    // A dataset belongs to one project: that of the selected images.
    const projects = new Set([...selected].map((id) => known.get(id)?.project));
    if (projects.size !== 1) {
      $("create-status").textContent = "Select images of one project (filter by project first).";
      return;
    }
    const [project] = projects;
    try {
      const d = await api("/api/datasets/create", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: f.name, project, task: f.task,
          classes: f.classes.split(",").map((c) => c.trim()).filter(Boolean),
          image_ids: [...selected],
        }),
      });
      $("create-status").textContent = `Created ${d.name} (v1).`;
      loadDatasets();
    } catch (err) {
      $("create-status").textContent = `Error: ${err.message}`;
    }
  });
}

// ---- seed from the labeling queue ---------------------------------------------
if (manage) {
  $("seed").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("seed")));
    const classes = f.classes.split(",").map((c) => c.trim()).filter(Boolean);
    const body = { name: f.name, project: f.project, task: f.task, source: f.source };
    if (classes.length) body.classes = classes;
    $("seed-status").textContent = "storing the reviewed frames…";
    try {
      const r = await api("/api/datasets/seed", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const d = r.dataset;
      $("seed-status").textContent = `Created ${d.name} (${d.task}, classes ${d.classes.join(", ")}): ` +
        `${r.images} frames, ${r.defective} with defects` + (r.skipped ? `, ${r.skipped} left out (picture gone)` : "") + ".";
      loadDatasets();
    } catch (err) {
      $("seed-status").textContent = `Error: ${err.message}`;
    }
  });
}

// ---- import a labelled zip ------------------------------------------------------
if (manage) {
  $("import").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = new FormData($("import"));
    const bar = $("import-progress");
    bar.hidden = false;
    bar.value = 0;
    $("import-status").textContent = "uploading…";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/datasets/import");
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) bar.value = Math.round((100 * ev.loaded) / ev.total);
      if (ev.loaded === ev.total) $("import-status").textContent = "checking and storing…";
    };
    xhr.onload = () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && answer) {
        const d = answer.dataset;
        $("import-status").textContent = `Imported ${d.name} (${d.task}, ${d.classes.length} classes): ${answer.images} images, ` +
          `${answer.duplicates} already in the project, ${answer.masks} masks.`;
        loadDatasets();
        loadImages(true);
      } else {
        $("import-status").textContent = `Refused (${xhr.status}): ${answer && answer.detail ? answer.detail : xhr.statusText}`;
      }
    };
    xhr.onerror = () => { $("import-status").textContent = "network error"; };
    xhr.send(form);
  });
}

// ---- Roboflow: versions to pull, push of the selection, jobs ---------------------
const active = new Set(["queued", "running"]);

function jobRow(j) {
  const bar = el("progress", { max: String(Math.max(1, j.total)), value: String(j.done), "aria-label": `job ${j.id}` });
  const cancel = manage && active.has(j.status)
    ? el("button", { type: "button", class: "link-button", onclick: () => api(`/api/integrations/roboflow/jobs/${j.id}/cancel`, { method: "POST" }).then(roboflowJobs) }, "cancel")
    : "";
  return el("li", { class: j.status === "failed" ? "refused" : j.status === "succeeded" ? "stored" : "", "data-job": j.id, "data-status": j.status },
    el("span", { class: "file" }, `${j.kind === "roboflow_pull" ? "pull" : "push"} #${j.id}`), bar,
    el("span", { class: "muted small" }, `${j.status}: ${j.message}`), " ", cancel);
}

let jobTimer = null;
async function roboflowJobs() {
  const page = await api("/api/integrations/roboflow/jobs");
  $("rf-jobs").replaceChildren(...page.items.slice(0, 8).map(jobRow));
  clearTimeout(jobTimer);
  if (page.items.some((j) => active.has(j.status))) jobTimer = setTimeout(() => roboflowJobs().catch(() => {}), 1000);
  else if (page.items.some((j) => j.kind === "roboflow_pull" && j.status === "succeeded")) loadDatasets();
}

async function startJob(what, body) {
  try {
    await api(`/api/integrations/roboflow/${what}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    $("rf-jobs").prepend(el("li", { class: "refused" }, err.message));
  }
  roboflowJobs().catch(() => {});
}

async function roboflowVersions() {
  let versions;
  try {
    versions = await api("/api/integrations/roboflow/versions");
  } catch (err) {
    $("rf-where").textContent = err.message;
    return;
  }
  $("rf-where").textContent = `${versions.length} version${versions.length === 1 ? "" : "s"} in Roboflow; a pulled version becomes a dataset of the project set in Settings → Roboflow.`;
  $("rf-versions").querySelector("tbody").replaceChildren(...versions.map((v) => el("tr", {},
    el("td", {}, `v${v.number}${v.name && v.name !== "v" + v.number ? " (" + v.name + ")" : ""}`), el("td", {}, String(v.images)),
    el("td", {}, Object.entries(v.splits || {}).map(([k, n]) => `${k} ${n}`).join(", ")),
    manage ? el("td", {}, el("button", { type: "button", "data-version": v.number, onclick: () => startJob("pull", { version: v.number }) }, "Pull")) : "")));
}

if (manage) {
  $("rf-push").addEventListener("click", () => {
    if (selected.size === 0) { $("rf-jobs").prepend(el("li", { class: "refused" }, "Select images first.")); return; }
    startJob("push", { image_ids: [...selected] });
  });
}
roboflowVersions();
roboflowJobs().catch(() => {});

loadImages(true);
loadDatasets();
