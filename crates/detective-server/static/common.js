// Shared helpers of the dashboard's pages: API calls with the session cookie,
// element building, the server's SVG charts inlined, formatting, class icons and
// drawing detections.

/** GET (or other) a JSON API route; a lost session goes back to the login page. */
export async function api(path, options = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...options });
  if (r.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
    throw new Error("signed out");
  }
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const detail = body && body.detail ? body.detail : r.statusText;
    throw new Error(`${r.status} ${detail}`);
  }
  return body;
}

/** Builds an element: el("td", {class: "x"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/**
 * Inlines the chart the server draws at `url` (every chart is SVG from a
 * `…/charts/…svg` route) into `holder`, labelled with its `data-label`.
 */
export async function chart(holder, url) {
  const text = await api(url);
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (svg.nodeName !== "svg") throw new Error(`${url} is not an SVG chart`);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("role", "img");
  if (holder.dataset.label) svg.setAttribute("aria-label", holder.dataset.label);
  holder.replaceChildren(document.importNode(svg, true));
}

const SVG = "http://www.w3.org/2000/svg";
// Icon families and the class names (of our parts and of real datasets: NEU-DET,
// MagneticTile, Roboflow exports) that belong to each, as written lower-case
// with separators and plurals removed.
const FAMILIES = {
  scratch: ["scratch", "scratches", "scuff", "line"],
  spot: ["spot", "stain", "dot", "speck"],
  crack: ["crack", "cracks", "fissure"],
  crazing: ["crazing", "craze", "crazed"],
  dent: ["dent", "dents", "dimple", "bump"],
  pit: ["pit", "pits", "pitted", "pittedsurface", "pitting"],
  patch: ["patch", "patches", "discoloration", "discolouration"],
  inclusion: ["inclusion", "inclusions", "slag"],
  scale: ["scale", "rolledinscale", "rolledin", "oxide"],
  blowhole: ["blowhole", "blowholes", "hole", "holes", "pore", "pores", "porosity"],
  break: ["break", "broken", "chip", "chipped"],
  fray: ["fray", "frayed", "burr"],
  uneven: ["uneven", "unevenness", "wave", "warp"],
};
const FAMILY_OF = new Map(Object.entries(FAMILIES).flatMap(([f, names]) => names.map((n) => [n, f])));

/** The icon family of a class name (`defect`, the generic one, when none fits). */
export function iconFamily(name) {
  const key = String(name || "").toLowerCase().replace(/[^a-z]/g, "");
  return FAMILY_OF.get(key) || FAMILY_OF.get(key.replace(/s$/, "")) || "defect";
}

/** The inline SVG icon of a defect class (a generic one for other names). */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.dataset.family = iconFamily(name);
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", "#icon-" + iconFamily(name));
  svg.append(use);
  return svg;
}

/** The icon of an alert event: its class's family for a per-class rate, a generic one otherwise. */
export function alertIcon(e) {
  const d = e.detail || {};
  return icon(d.by === "class" ? d.group : "defect");
}

/** A class chip: icon, name, confidence. */
export function chip(d, band) {
  const uncertain = band && d.confidence > band[0] && d.confidence < band[1];
  return el("span", { class: "chip" + (uncertain ? " uncertain" : ""), title: uncertain ? "uncertain" : "" },
    icon(d.name), `${d.name} ${d.confidence.toFixed(2)}`);
}

export function pct(x) {
  return (100 * x).toFixed(1) + " %";
}

export function num(x) {
  return Number(x).toLocaleString("en-US");
}

/** "12:03:04" today, else "2026-11-20 12:03". */
export function when(rfc3339) {
  const d = new Date(rfc3339);
  if (isNaN(d)) return rfc3339;
  const today = new Date();
  const hms = d.toLocaleTimeString("en-GB", { hour12: false });
  if (d.toDateString() === today.toDateString()) return hms;
  return d.toISOString().slice(0, 10) + " " + hms.slice(0, 5);
}

/** Seconds since an RFC 3339 time, as "4 s ago" / "3 min ago". */
export function ago(rfc3339) {
  const s = Math.max(0, (Date.now() - new Date(rfc3339).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/**
 * Draws detections on a 2D context: red boxes with class and confidence; `sx`,
 * `sy` scale image pixels to canvas pixels.
 */
export function drawDetections(ctx, detections, sx = 1, sy = 1) {
  ctx.lineWidth = 2;
  ctx.font = "600 13px Inter, system-ui, sans-serif";
  ctx.textBaseline = "bottom";
  for (const d of detections) {
    const [x1, y1, x2, y2] = d.bbox;
    const x = x1 * sx, y = y1 * sy, w = (x2 - x1) * sx, h = (y2 - y1) * sy;
    ctx.strokeStyle = "#e0252b";
    ctx.strokeRect(x, y, w, h);
    const label = `${d.name} ${d.confidence.toFixed(2)}`;
    const tw = ctx.measureText(label).width + 8;
    const ty = y > 18 ? y : y + h + 18;
    ctx.fillStyle = "#e0252b";
    ctx.fillRect(x - 1, ty - 18, tw, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x + 3, ty - 3);
  }
}

/** Runs `fn` now and every `ms` while the page is visible. */
export function every(ms, fn) {
  const tick = async () => {
    if (document.visibilityState === "visible") {
      try { await fn(); } catch (e) { console.warn(e); }
    }
  };
  tick();
  return setInterval(tick, ms);
}

/**
 * The `<option>`s of the models a page can run on an image: the served detector
 * and segmenter, and each registered detector's newest version, as
 * `task|model` values (`detect|` is the served detector).
 */
export async function modelOptions() {
  const opts = [el("option", { value: "detect|" }, "the served detector"), el("option", { value: "segment|" }, "the served segmenter")];
  try {
    for (const m of (await api("/api/models")).items) {
      if (m.task === "detect" && m.versions > 0) opts.push(el("option", { value: `detect|${m.name}@${m.versions}` }, `${m.name} v${m.versions}`));
    }
  } catch (e) { console.warn(e); }
  return opts;
}

// Forms that scripts handle are never submitted (instead of inline onsubmit handlers,
// which the Content-Security-Policy forbids).
for (const f of document.querySelectorAll("form[data-no-submit]")) f.addEventListener("submit", (e) => e.preventDefault());
