// Settings: cameras as the agents report them; API keys for admins (create shows
// the secret once, revoke asks first).
import { api, el, when, ago } from "./common.js";

const $ = (id) => document.getElementById(id);

async function cameras() {
  const m = await api("/api/metrics");
  if (!m.cameras.length) return;
  $("cameras").querySelector("tbody").replaceChildren(...m.cameras.map((c) => el("tr", {},
    el("td", {}, c.id), el("td", {}, c.project),
    el("td", {}, c.fps == null ? "–" : c.fps.toFixed(1)), el("td", {}, ago(c.last_seen)))));
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
