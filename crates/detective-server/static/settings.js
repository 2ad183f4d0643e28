// Settings: cameras as the agents report them; API keys and user accounts for
// admins (a new key's secret is shown once, revoke and disable ask first); a
// signed-in user's own password.
import { api, el, when, ago } from "./common.js";

const $ = (id) => document.getElementById(id);

// A camera's sampling strategies in a few words.
function samplingText(s) {
  const parts = [];
  if (s.random_percent > 0) parts.push(`${s.random_percent}% at random`);
  if (s.more_than != null) parts.push(`more than ${s.more_than} detections`);
  if (s.classes.length) parts.push(`classes ${s.classes.join(", ")}`);
  return parts.length ? `${parts.join("; ")} (≤ ${s.per_hour}/h each)` : "off";
}

async function cameras() {
  const m = await api("/api/metrics");
  if (!m.cameras.length) return;
  const sampling = await Promise.all(m.cameras.map((c) =>
    api(`/api/cameras/${encodeURIComponent(c.id)}/sampling`).catch(() => null)));
  $("cameras").querySelector("tbody").replaceChildren(...m.cameras.map((c, i) => el("tr", { "data-camera": c.id },
    el("td", {}, c.id), el("td", {}, c.project),
    el("td", {}, c.fps == null ? "–" : c.fps.toFixed(1)), el("td", {}, ago(c.last_seen)),
    el("td", { class: "sampling" }, sampling[i] ? samplingText(sampling[i]) : "–"))));
  if ($("s-cameras")) {
    $("s-cameras").replaceChildren(...m.cameras.map((c) => el("option", { value: c.id })));
  }
}

// The form shows the chosen camera's strategies and saves them.
async function loadSampling(camera) {
  const s = await api(`/api/cameras/${encodeURIComponent(camera)}/sampling`);
  $("s-random").value = s.random_percent;
  $("s-more").value = s.more_than ?? "";
  $("s-classes").value = s.classes.join(", ");
  $("s-hour").value = s.per_hour;
  $("sampling-form").dataset.loaded = camera;
}

if ($("sampling-form")) {
  const status = (text, bad) => { $("s-status").className = bad ? "small error" : "small"; $("s-status").textContent = text; };
  $("s-camera").addEventListener("change", () => {
    const c = $("s-camera").value.trim();
    if (c) loadSampling(c).catch((err) => status(err.message, true));
  });
  $("sampling-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("sampling-form")));
    const body = {
      random_percent: Number(f.random_percent || 0),
      more_than: f.more_than === "" ? null : Number(f.more_than),
      classes: f.classes.split(",").map((c) => c.trim()).filter(Boolean),
      per_hour: Number(f.per_hour || 30),
    };
    try {
      const s = await api(`/api/cameras/${encodeURIComponent(f.camera.trim())}/sampling`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      status(`Saved for ${f.camera.trim()}: ${samplingText(s)}.`, false);
      cameras().catch(() => {});
    } catch (err) {
      status(err.message, true);
    }
  });
}

async function keys() {
  const page = await api("/api/keys");
  $("keys").querySelector("tbody").replaceChildren(...page.items.map((k) => el("tr", { "data-id": k.id },
    el("td", {}, k.name), el("td", {}, k.role), el("td", {}, el("code", {}, k.prefix + "…")),
    el("td", {}, when(k.created_at)),
    el("td", {}, k.revoked ? el("span", { class: "muted" }, "revoked")
      : el("button", { type: "button", onclick: () => revoke(k) }, "Revoke")))));
}

async function revoke(k) {
  if (!confirm(`Revoke the key "${k.name}" (${k.role})? Agents and sessions using it stop at once.`)) return;
  await api(`/api/keys/${k.id}/revoke`, { method: "POST" });
  keys();
}

if ($("new-key")) {
  $("new-key").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("new-key")));
    try {
      const r = await api("/api/keys", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: f.name, role: f.role }),
      });
      const box = $("new-secret");
      box.replaceChildren(
        el("p", {}, `New ${r.api_key.role} key "${r.api_key.name}" — copy it now, it is not shown again:`),
        el("code", { id: "secret-value" }, r.key));
      box.hidden = false;
      $("new-key").reset();
      keys();
    } catch (err) {
      const box = $("new-secret");
      box.replaceChildren(el("p", { class: "error" }, `Error: ${err.message}`));
      box.hidden = false;
    }
  });
  keys();
}
function userStatus(id, text, error) {
  const p = $(id);
  p.textContent = text;
  p.className = error ? "small error" : "small";
}

async function users() {
  const page = await api("/api/users");
  $("users").querySelector("tbody").replaceChildren(...page.items.map((u) => el("tr", { "data-id": u.id },
    el("td", {}, u.username), el("td", {}, u.role), el("td", {}, when(u.created_at)),
    el("td", {}, u.disabled ? el("span", { class: "muted" }, "disabled") : "active"),
    el("td", {},
      el("button", { type: "button", onclick: () => userAction(u, u.disabled ? "enable" : "disable") },
        u.disabled ? "Enable" : "Disable"),
      " ",
      el("button", { type: "button", onclick: () => newPassword(u) }, "Set password")))));
}

async function userAction(u, action) {
  if (action === "disable" && !confirm(`Disable ${u.username}? Their sessions end at once.`)) return;
  try {
    await api(`/api/users/${u.id}/${action}`, { method: "POST" });
    userStatus("user-status", `${u.username}: ${action}d.`, false);
  } catch (err) {
    userStatus("user-status", err.message, true);
  }
  users();
}

async function newPassword(u) {
  const password = prompt(`New password for ${u.username} (at least 10 characters; their sessions end):`);
  if (!password) return;
  try {
    await api(`/api/users/${u.id}/password`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password }),
    });
    userStatus("user-status", `Password of ${u.username} set.`, false);
  } catch (err) {
    userStatus("user-status", err.message, true);
  }
}

if ($("new-user")) {
  $("new-user").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("new-user")));
    try {
      const r = await api("/api/users", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: f.username, role: f.role, password: f.password }),
      });
      userStatus("user-status", `Created ${r.user.role} account ${r.user.username}.`, false);
      $("new-user").reset();
      users();
    } catch (err) {
      userStatus("user-status", err.message, true);
    }
  });
  users();
}
if ($("own-password")) {
  $("own-password").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("own-password")));
    try {
      await api("/api/account/password", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ current: f.current, new: f.new }),
      });
      // Every session of the account ended with the change, this one too.
      location.href = "/login?next=/settings";
    } catch (err) {
      userStatus("own-password-status", err.message, true);
    }
  });
}
if ($("thresholds")) {
  $("thresholds").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData($("thresholds")));
    const body = { conf: Number(f.conf), uncertain_low: Number(f.uncertain_low), uncertain_high: Number(f.uncertain_high) };
    try {
      await api("/api/settings/thresholds", {
        method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      $("t-status").className = "small";
      $("t-status").textContent = "Saved: applies to new predictions now.";
    } catch (err) {
      $("t-status").className = "small error";
      $("t-status").textContent = err.message;
    }
  });
}
cameras();

// ---- Audit trail (admins) ------------------------------------------------------
async function audit(before) {
  if (!$("audit")) return;
  const q = before ? `?limit=50&before=${before}` : "?limit=50";
  const page = await api(`/api/audit${q}`);
  const rows = page.entries.map((e) => el("tr", { "data-id": e.id },
    el("td", { title: e.at }, when(e.at)), el("td", {}, `${e.actor} (${e.role})`),
    el("td", {}, el("code", {}, e.action)), el("td", {}, el("code", {}, e.target)), el("td", {}, e.client)));
  const body = $("audit").querySelector("tbody");
  if (before) body.append(...rows);
  else if (rows.length) body.replaceChildren(...rows);
  const more = $("audit-more");
  more.hidden = page.entries.length < 50;
  more.onclick = () => audit(page.entries[page.entries.length - 1].id).catch((e) => console.warn(e));
}
audit().catch((e) => console.warn(e));

// ---- Roboflow (admins) --------------------------------------------------------
async function roboflow() {
  if (!$("roboflow")) return;
  const show = (r) => {
    $("rf-workspace").value = r.workspace;
    $("rf-project").value = r.project;
    $("rf-local").value = r.local_project;
    $("rf-key").value = "";
    $("rf-key").placeholder = r.api_key_set ? `set (${r.api_key}); type to replace` : "not set";
  };
  show(await api("/api/integrations/roboflow/settings"));
  $("roboflow").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const [k, v] of new FormData($("roboflow"))) if (v !== "") body[k] = v;
    try {
      show(await api("/api/integrations/roboflow/settings", {
        method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      }));
      $("rf-status").textContent = "Saved.";
    } catch (err) {
      $("rf-status").textContent = err.message;
    }
  });
  $("rf-check").addEventListener("click", async () => {
    $("rf-status").textContent = "Asking Roboflow…";
    try {
      const r = await api("/api/integrations/roboflow/check", { method: "POST" });
      $("rf-status").textContent = `The key works: workspace ${r.workspace}.`;
    } catch (err) {
      $("rf-status").textContent = err.message;
    }
  });
}
roboflow().catch((e) => console.warn(e));
