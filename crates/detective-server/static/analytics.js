// Analytics: a time range and a bucket → the period's figures, the server's SVG
// charts, and the root-cause table (groups whose defect rate rose against the
// previous period of the same length, by a two-proportion z-test), and the
// miss rate that review found among frames the model called clean.
import { api, chart, el, pct, num } from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("range");

function localInput(d) {
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

function query() {
  const f = Object.fromEntries(new FormData(form));
  const q = new URLSearchParams({ bucket: $("a-bucket").value });
  if ($("a-preset").value === "custom") {
    if ($("a-from").value) q.set("from", new Date($("a-from").value).toISOString());
    if ($("a-to").value) q.set("to", new Date($("a-to").value).toISOString());
  } else {
    const to = new Date();
    q.set("from", new Date(to.getTime() - Number(f.preset) * 3600e3).toISOString());
    q.set("to", to.toISOString());
  }
  return q;
}

const LABEL = { camera: "camera", line: "line", shift: "shift", class: "class" };

async function show() {
  const q = query();
  $("a-status").textContent = "Loading…";
  let r;
  try {
    r = await api(`/api/analytics/summary?${q}`);
  } catch (e) {
    $("a-status").textContent = `Error: ${e.message}`;
    return;
  }
  misses(q).catch((e) => { $("a-miss-note").textContent = e.message; });
  insights(q).catch((e) => { $("ins-note").textContent = e.message; });
  const s = r.summary;
  $("a-total").textContent = num(s.total);
  $("a-defective").textContent = num(s.defective);
  $("a-rate").textContent = pct(s.defect_rate);
  $("a-uncertain").textContent = num(s.uncertain);
  for (const c of ["rate", "classes", "confidence", "cameras", "lines", "shifts"]) {
    chart($(`c-${c}`), `/api/analytics/charts/${c}.svg?${q}`).catch((e) => { $(`c-${c}`).textContent = e.message; });
  }
  $("rc-note").textContent = `${new Date(r.from).toLocaleString()} – ${new Date(r.to).toLocaleString()} against `
    + `${new Date(r.previous.from).toLocaleString()} – ${new Date(r.previous.to).toLocaleString()}; groups with at least `
    + `${r.min_group} predictions in both periods; z ≥ 1.96 is a significant rise (5 %).`;
  const rows = r.root_cause.map((x) => el("tr", {},
    el("td", {}, `${LABEL[x.dimension]} ${x.key}`),
    el("td", {}, `${pct(x.rate_now)} of ${num(x.n_now)}`),
    el("td", {}, `${pct(x.rate_before)} of ${num(x.n_before)}`),
    el("td", {}, x.z.toFixed(2)),
    el("td", {}, x.significant ? el("span", { class: "flag defective" }, "significant rise") : el("span", { class: "muted" }, "within noise"))));
  $("rootcause").querySelector("tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "Nothing got worse against the previous period (or too few predictions to tell)."))]));
  $("a-status").textContent = r.truncated ? "Only the first 2 000 000 predictions of the range were read." : "";
}

// Where each chart of a fact is on this page (drift has its own page).
const CHART = { rate: "#c-rate", classes: "#c-classes", cameras: "#c-cameras", lines: "#c-lines", shifts: "#c-shifts", drift: "/drift", models: "/models" };

function written(f) {
  return f.unit === "percent" ? `${(100 * f.value).toFixed(1)} %` : f.unit === "count" ? num(f.value) : f.value.toFixed(2);
}

// The Insights panel: checked sentences, each citation a link to the chart that holds the number.
async function insights(q) {
  const r = await api(`/api/analytics/insights?${q}`);
  const byId = new Map(r.facts.map((f) => [f.id, f]));
  $("ins-note").textContent = r.note + (r.rejected ? ` ${r.rejected} sentence(s) failed the check and are not shown.` : "");
  const cite = (id) => {
    const f = byId.get(id) || {};
    return el("a", { class: "cite", href: CHART[f.chart] || "#", title: f.label || id }, `[${id}]`);
  };
  const items = r.sentences.map((s) => el("li", {}, s.text, " ", ...s.facts.map(cite), " ", wrongButton(r, s)));
  $("insights").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "Nothing to say about this period yet.")]));
  $("ins-facts").querySelector("tbody").replaceChildren(...r.facts.map((f) => el("tr", { id: `fact-${f.id}` },
    el("td", {}, f.id), el("td", {}, f.label), el("td", {}, written(f)))));
}

// "Wrong?" beside a sentence: a note, then the mark is kept for review with the model's prompt and answer.
function wrongButton(panel, s) {
  const box = el("span", { class: "wrong" });
  const ask = el("button", { type: "button", class: "link-button small", title: "Mark this sentence wrong" }, "Wrong?");
  ask.addEventListener("click", () => {
    const note = el("input", { type: "text", placeholder: "What is wrong (optional)", maxlength: "500", class: "small" });
    const send = el("button", { type: "button", class: "small" }, "Mark wrong");
    send.addEventListener("click", async () => {
      send.disabled = true;
      try {
        await api("/api/analytics/insights/feedback", {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ answer_id: panel.answer_id, sentence: s.text, facts: s.facts, note: note.value }),
        });
        box.replaceChildren(el("span", { class: "muted small" }, "Marked wrong; kept for review."));
      } catch (e) {
        send.disabled = false;
        box.append(el("span", { class: "error small" }, ` ${e.message}`));
      }
    });
    box.replaceChildren(note, " ", send);
    note.focus();
  });
  box.append(ask);
  return box;
}

const WHY = { uncertain: "uncertain", random: "sampled at random", more_than: "sampled: many detections", class: "sampled: chosen class" };

// The miss rate found by review, overall and by camera and reason.
async function misses(q) {
  const m = await api(`/api/analytics/misses?${q}`);
  $("a-miss-rate").textContent = m.miss_rate == null ? "–" : pct(m.miss_rate);
  $("a-miss-note").textContent = `${num(m.missed)} of ${num(m.reviewed_clean)} reviewed frames the model called clean showed a defect.`;
  const rows = m.groups.map((g) => el("tr", {},
    el("td", {}, g.camera_id), el("td", {}, WHY[g.reason] || g.reason), el("td", {}, num(g.reviewed_clean)),
    el("td", {}, num(g.missed)), el("td", {}, g.miss_rate == null ? "–" : pct(g.miss_rate))));
  $("misses").querySelector("tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No reviewed frame the model called clean in this period."))]));
}

$("a-preset").addEventListener("change", () => {
  const custom = $("a-preset").value === "custom";
  $("a-from").disabled = $("a-to").disabled = !custom;
  if (custom && !$("a-to").value) {
    const now = new Date();
    $("a-to").value = localInput(now);
    $("a-from").value = localInput(new Date(now.getTime() - 24 * 3600e3));
  }
});
form.addEventListener("submit", (e) => { e.preventDefault(); show(); });
show();
