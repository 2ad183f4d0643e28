// Live: (a) this browser's camera → JPEG frames over the /api/stream WebSocket →
// detections drawn as red boxes over the video; one frame in flight at a time, so
// the rate follows the server. (b) the edge agents' figures and newest frames.
import { api, el, chip, ago, every, drawDetections, alertIcon } from "./common.js";

const $ = (id) => document.getElementById(id);

// ---- (a) the browser's camera ----------------------------------------------
const video = $("video");
const overlay = $("overlay");
let stream = null;
let ws = null;
let last = null; // the newest answer, redrawn when the threshold moves
let sentAt = 0;
let times = []; // answer times of the last few seconds, for FPS
let pulseUntil = 0;

function threshold() {
  return parseFloat($("conf").value);
}

function draw() {
  if (!overlay || !last) return;
  const ctx = overlay.getContext("2d");
  overlay.width = video.clientWidth;
  overlay.height = video.clientHeight;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const shown = last.detections.filter((d) => d.confidence >= threshold());
  drawDetections(ctx, shown, overlay.width / last.width, overlay.height / last.height);
  $("ndet").textContent = shown.length;
  const stage = $("stage");
  if (shown.length && performance.now() > pulseUntil) {
    stage.classList.remove("pulse");
    void stage.offsetWidth; // restart the animation
    stage.classList.add("pulse");
    pulseUntil = performance.now() + 1200;
  }
}

function sendFrame() {
  if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  const c = document.createElement("canvas");
  // At most 640 px wide: enough for the model, light on the network.
  const scale = Math.min(1, 640 / video.videoWidth);
  c.width = Math.round(video.videoWidth * scale);
  c.height = Math.round(video.videoHeight * scale);
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  c.toBlob((blob) => {
    if (!blob || !ws || ws.readyState !== WebSocket.OPEN) return;
    sentAt = performance.now();
    ws.send(blob);
  }, "image/jpeg", 0.8);
}

async function start() {
  $("start").disabled = true;
  $("cam-status").textContent = "Asking for the camera…";
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    $("cam-status").textContent = `No camera: ${e.message}`;
    $("start").disabled = false;
    return;
  }
  video.srcObject = stream;
  await video.play();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  // The model answers everything above 0.05; the slider filters at once, locally.
  ws = new WebSocket(`${proto}://${location.host}/api/stream?conf=0.05`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    $("cam-status").textContent = "Streaming to the server.";
    $("stop").disabled = false;
    sendFrame();
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    const now = performance.now();
    if (msg.error) {
      $("cam-status").textContent = `Server: ${msg.error}`;
    } else {
      last = msg;
      times = times.filter((t) => now - t < 3000);
      times.push(now);
      $("fps").textContent = (times.length / Math.min(3, Math.max(0.5, (now - times[0]) / 1000))).toFixed(1);
      $("latency").textContent = `${Math.round(now - sentAt)} ms`;
      overlay.dataset.detections = String(msg.detections.length);
      overlay.dataset.classes = [...new Set(msg.detections.map((d) => d.name))].join(",");
      overlay.dataset.answer = JSON.stringify({ width: msg.width, height: msg.height, boxes: msg.detections.map((d) => d.bbox) });
      draw();
    }
    // Busy answers ask to wait a little; otherwise the next frame goes at once.
    setTimeout(sendFrame, msg.retry_ms || 0);
  };
  ws.onclose = (ev) => {
    $("cam-status").textContent = ev.reason ? `Stream closed: ${ev.reason}` : "Stream closed.";
    stop();
  };
}

function stop() {
  if (ws) { const w = ws; ws = null; w.close(); }
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  if ($("start")) $("start").disabled = false;
  if ($("stop")) $("stop").disabled = true;
}

if ($("start")) {
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  $("conf").addEventListener("input", () => {
    $("conf-out").textContent = threshold().toFixed(2);
    draw();
  });
  window.addEventListener("resize", draw);
}

// ---- (b) edge agents ---------------------------------------------------------
const band = (() => {
  const s = $("stage");
  return s ? [parseFloat(s.dataset.bandLow), parseFloat(s.dataset.bandHigh)] : [0.4, 0.7];
})();

async function agents() {
  const m = await api("/api/metrics");
  const cams = m.cameras || [];
  if (!cams.length) return;
  const cards = await Promise.all(cams.map(async (c) => {
    const q = new URLSearchParams({ camera: c.id, limit: "20" });
    const logs = await api(`/api/inspection-logs?${q}`);
    const withFrame = logs.items.find((p) => p.frame_key);
    const newest = logs.items[0];
    const img = withFrame
      ? el("img", { src: `/api/inspection-logs/${withFrame.id}/frame?boxes=true`, alt: `newest kept frame of ${c.id}` })
      : el("div", { class: "noframe" }, "no frame kept yet");
    return el("article", { class: "agent card" },
      el("h3", {}, c.id),
      img,
      el("dl", { class: "facts" },
        el("dt", {}, "FPS"), el("dd", {}, c.fps == null ? "–" : c.fps.toFixed(1)),
        el("dt", {}, "Inference"), el("dd", {}, c.inference_ms == null ? "–" : `${c.inference_ms.toFixed(1)} ms`),
        el("dt", {}, "Last seen"), el("dd", {}, ago(c.last_seen)),
        el("dt", {}, "Newest result"), el("dd", {}, newest && newest.detections.length
          ? newest.detections.slice(0, 3).map((d) => chip(d, band))
          : "no defect")));
  }));
  $("agents").replaceChildren(...cards);
}

every(2000, agents);

// The newest alerts of the last day, each with its defect family's icon when it is about a class.
async function alerts() {
  const r = await api("/api/alerts/events?limit=5");
  const day = Date.now() - 86_400_000;
  const items = r.items.filter((e) => Date.parse(e.created_at) >= day).map((e) =>
    el("li", { "data-kind": e.kind }, alertIcon(e), " ", e.title, " ", el("span", { class: "muted small" }, ago(e.created_at))));
  if (items.length) document.getElementById("live-alerts").replaceChildren(...items);
}
every(10000, alerts);
