// Settings → Alerts: the rules (a condition, its channels, a quiet period), a
// form to add one, "check now", and the recent alerts with each delivery.
import { api, el, when, alertIcon } from "/static/common.js";

const $ = (id) => document.getElementById(id);

const KINDS = {
  defect_rate: (c) => `defect rate per ${c.by.replace("_", " on a ")} above its ${c.sigma}σ limit (last ${c.window_mins} min against ${c.history_hours} h)`,
  camera_silent: (c) => `a camera silent for ${c.minutes} min`,
  spool_full: (c) => `an edge spool above ${c.percent} %`,
  drift: () => "drift found",
  job_failed: () => "a training job failed",
  model_promoted: () => "a model promoted to Production",
};

function channels(list) {
  if (!list.length) return "this list";
  return list.map((c) => c.type === "webhook" ? `webhook ${c.url}` : c.type === "mqtt" ? `MQTT ${c.topic}` : "this list").join(", ");
}

async function rules() {
  const r = await api("/api/alerts/rules");
  if (!r.items.length) return;
  $("alert-rules").querySelector("tbody").replaceChildren(...r.items.map((rule) => {
    const s = rule.spec;
    const del = $("alert-form") ? el("button", { type: "button", onclick: () => remove(rule) }, "Remove") : "";
    return el("tr", { "data-rule": rule.id },
      el("td", {}, rule.name, rule.enabled ? "" : el("span", { class: "muted" }, " (off)")),
      el("td", {}, (KINDS[s.condition.kind] || (() => s.condition.kind))(s.condition)),
      el("td", { class: "small" }, channels(s.channels)),
      el("td", {}, `${s.quiet_secs} s`), el("td", {}, del));
  }));
}

async function remove(rule) {
  if (!confirm(`Remove the alert rule "${rule.name}"?`)) return;
  await api(`/api/alerts/rules/${rule.id}`, { method: "DELETE" });
  location.reload();
}

async function events() {
  const r = await api("/api/alerts/events?limit=20");
  if (!r.items.length) return;
  $("alert-events").querySelector("tbody").replaceChildren(...r.items.map((e) => el("tr", { "data-kind": e.kind },
    el("td", {}, when(e.created_at)),
    el("td", {}, alertIcon(e), " ", e.title),
    el("td", { class: "small" }, e.deliveries.length ? e.deliveries.map((d) =>
      el("div", { class: d.status === "failed" ? "error" : "" },
        `${d.channel}: ${d.status}${d.attempts > 1 ? ` after ${d.attempts} tries` : ""}${d.last_error && d.status !== "delivered" ? ` (${d.last_error})` : ""}`))
      : "this list"))));
}

function showFields() {
  const kind = $("a-kind").value;
  for (const f of document.querySelectorAll("#alert-form [data-for]")) f.hidden = f.dataset.for !== kind;
}

function spec(f) {
  const n = (k) => Number(f[k]);
  const condition = { kind: f.kind };
  if (f.kind === "defect_rate") Object.assign(condition, { by: f.by, window_mins: n("window_mins"), history_hours: n("history_hours"), sigma: n("sigma") });
  if (f.kind === "camera_silent") condition.minutes = n("minutes");
  if (f.kind === "spool_full") condition.percent = n("percent");
  const chans = [{ type: "dashboard" }];
  if (f.url.trim()) chans.push({ type: "webhook", url: f.url.trim(), secret: f.secret });
  if (f.topic.trim()) chans.push({ type: "mqtt", topic: f.topic.trim() });
  return { name: f.name.trim(), condition, channels: chans, quiet_secs: n("quiet_secs") };
}

if ($("alert-form")) {
  const status = (t, bad) => { $("a-status").className = bad ? "small error" : "small"; $("a-status").textContent = t; };
  $("a-kind").addEventListener("change", showFields);
  showFields();
  $("alert-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("/api/alerts/rules", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify(spec(Object.fromEntries(new FormData($("alert-form"))))),
      });
      status(`Rule "${r.name}" added.`, false);
      await rules();
    } catch (err) { status(err.message, true); }
  });
  $("a-evaluate").addEventListener("click", async () => {
    try {
      const r = await api("/api/alerts/evaluate", { method: "POST" });
      status(`Checked: ${r.fired} alert(s) fired.`, false);
      await events();
    } catch (err) { status(err.message, true); }
  });
}

rules().catch(() => {});
events().catch(() => {});
