#!/usr/bin/env bash
# The API tried by a machine: Schemathesis (PyPI, installed by
# scripts/setup-test-deps.sh) generates requests from /api/openapi.json against a
# real `detective serve` (SQLite + a folder, in a temporary data dir, the bundled
# model), once with each role's key and once with none. A run fails on a 5xx, a
# response that breaks its documented schema or content type, a route whose
# auth is ignored, and the checks of scripts/schemathesis_hooks.py (a role is
# refused before its request is read; no key gets 401 everywhere).
#
# Usage: scripts/schemathesis.sh [--max-examples N] [--out DIR] [--bin PATH]
#   --max-examples N  examples per operation and phase (default 20; CI uses 3)
#   --out DIR         JUnit reports and the server log (default: a temporary folder)
#   --bin PATH        the `detective` to serve (default: target/release/detective,
#                     built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

examples=20
out=""
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) examples="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done

venv="$HOME/.cache/defect-detective/schemathesis-venv"
st="$venv/bin/schemathesis"
if [ ! -x "$st" ]; then
  echo "Schemathesis is not installed: run scripts/setup-test-deps.sh" >&2
  exit 2
fi
if [ -z "$bin" ]; then
  target="${CARGO_TARGET_DIR:-target}"
  bin="$target/release/detective"
  [ -x "$bin" ] || cargo build --release --locked -p detective
fi

work=$(mktemp -d)
[ -n "$out" ] || out="$work/out"
mkdir -p "$out"
data="$work/data"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work/data"
}
trap cleanup EXIT

declare -A keys
for role in admin operator viewer device; do
  keys[$role]=$("$bin" --data-dir "$data" keys create --role "$role" --name "st-$role" 2>"$out/keys.log" | tail -n 1)
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The sign-in limiter would answer 429 to the unknown keys Schemathesis tries on
# purpose (it has tests of its own); no training runs here (jobs stay queued);
# insights are written by rule. Server-sent event streams (`…/events`) answer
# until the client leaves: they are left out.
DETECTIVE_SERVER__FAILED_KEY_LIMIT=0 DETECTIVE_LLM__PROVIDER=off RUST_LOG=warn \
  "$bin" --data-dir "$data" serve --bind "127.0.0.1:$port" --threads 1 --no-worker \
  > "$out/serve.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -sf "$base/api/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "$base/api/health" >/dev/null || { echo "serve did not start:" >&2; cat "$out/serve.log" >&2; exit 1; }

failed=0
for role in none viewer device operator admin; do
  headers=()
  checks="not_a_server_error,response_schema_conformance,content_type_conformance,refused_before_the_body,no_key_is_refused"
  if [ "$role" != none ]; then
    headers=(-H "Authorization: Bearer ${keys[$role]}")
    checks="$checks,ignored_auth"
  fi
  echo "== Schemathesis as ${role} (${examples} examples per operation and phase)" >&2
  set +e
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=scripts DETECTIVE_ST_ROLE="$role" \
    "$st" run "$base/api/openapi.json" "${headers[@]}" \
      --checks "$checks" \
      --max-examples "$examples" \
      --phases examples,coverage,fuzzing \
      --workers 1 \
      --request-timeout 30 \
      --suppress-health-check all \
      --exclude-path-regex '/events$' \
      --report junit --report-dir "$out/$role" \
      --no-color 2>&1 | tee "$out/$role.txt" | tail -n 40
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || failed=1
done
if ! kill -0 "$server" 2>/dev/null; then
  echo "serve is no longer running:" >&2
  tail -n 40 "$out/serve.log" >&2
  failed=1
fi
echo "reports in $out" >&2
exit "$failed"
