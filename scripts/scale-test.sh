#!/usr/bin/env bash
# Multi-replica fault test (docs/deploy.md#the-scale-test): real parts on loopback.
#
#   scripts/scale-test.sh [--quick] [--keep]
#
# Starts a private PostgreSQL (initdb into a temporary folder, not the machine's
# server), the S3-protocol server s3s-fs, 3 `serve` replicas behind nginx, 2
# `detective worker`s and 4 edge agents on synthetic cameras (30 FPS nominal). While
# they run it kills a worker with SIGKILL in the middle of a training job, kills one
# replica with SIGKILL and starts it again, and restarts PostgreSQL. Then it checks:
#   - every prediction the agents produced (their --journal) is in the database
#     exactly once: same count, same ids;
#   - the killed worker's job went back to the queue and finished on a worker;
#   - a dashboard event stream (SSE) on replica 1 saw a batch ingested through
#     replica 3;
# and prints ingest latency p50/p99 (nginx's $request_time of POST /api/log) and
# throughput. The agents run from before the first fault until some time after the
# last check (5 s with --quick, what CI runs in about a minute; 2 minutes without),
# then stop on SIGTERM and drain. --keep leaves the work folder for a look.
#
# Binary: $DETECTIVE_BIN, else target/release/detective (cargo build --release -p detective).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
keep=0
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --keep) keep=1 ;;
        *) echo "unknown argument $a (use --quick, --keep)" >&2; exit 2 ;;
    esac
done
bin=${DETECTIVE_BIN:-${CARGO_TARGET_DIR:-target}/release/detective}
bin=$(readlink -f "$bin")
unset DETECTIVE_BIN   # not a setting: the binary refuses DETECTIVE_ variables it does not know
[[ -x "$bin" ]] || { echo "no detective binary at $bin (cargo build --release -p detective, or set DETECTIVE_BIN)" >&2; exit 2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x "$pgbin/initdb" ]] || { echo "PostgreSQL's server programs (initdb, pg_ctl) are not installed" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx is not installed (scripts/setup-test-deps.sh)" >&2; exit 2; }
s3s=${DETECTIVE_S3S_FS:-$HOME/.cache/defect-detective/tools/bin/s3s-fs}
[[ -x "$s3s" ]] || s3s=$(command -v s3s-fs || true)
[[ -x "$s3s" ]] || { echo "s3s-fs is not installed (scripts/setup-test-deps.sh)" >&2; exit 2; }

# The agents run from before the first fault until `after` seconds past the last check,
# then get SIGTERM (they stop capturing and drain their spools), so the faults always
# fall inside their run however slow the machine is.
if [[ $quick == 1 ]]; then after=5; epochs=4; else after=120; epochs=8; fi
agents=4
work=$(mktemp -d /tmp/dd-scale.XXXXXX)
chmod 755 "$work"
cd "$work"
pids=()
# PostgreSQL refuses to run as root: as root, its programs run as the postgres user.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_ctl_run() { as_pg "$pgbin/pg_ctl" "$@"; }
cleanup() {
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    [[ -d "$work/pg" ]] && pg_ctl_run -D "$work/pg" -m immediate stop >/dev/null 2>&1
    wait 2>/dev/null
    if [[ $keep == 1 ]]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say() { printf '[%5.1fs] %s\n' "$(($(date +%s%N) / 1000000 - t_start))e-3" "$*"; }
t_start=$(($(date +%s%N) / 1000000))
wait_http() { # url, seconds
    local end=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        ((SECONDS < end)) || { echo "no answer from $1 after $2 s" >&2; return 1; }
        sleep 0.3
    done
}

# ---- PostgreSQL (private), S3 ---------------------------------------------------
pg_port=$(free_port)
mkdir -p "$work/pg"
touch "$work/pg.log"
[[ $(id -u) == 0 ]] && chown postgres "$work/pg" "$work/pg.log"
as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
pg_ctl_run -D "$work/pg" -l "$work/pg.log" -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" -w start >/dev/null
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres detective
export DETECTIVE_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/detective"
s3_port=$(free_port)
mkdir -p "$work/s3/detective"
"$s3s" --host 127.0.0.1 --port "$s3_port" --access-key scale --secret-key scale-secret "$work/s3" >"$work/s3.log" 2>&1 &
pids+=($!)
export DETECTIVE_OBJECT_STORE=s3://detective/scale AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" \
    AWS_ACCESS_KEY_ID=scale AWS_SECRET_ACCESS_KEY=scale-secret AWS_REGION=us-east-1 \
    DETECTIVE_CACHE_DIR="$work/cache" DETECTIVE_LOG_FORMAT=text
head -c 48 /dev/urandom | base64 > "$work/session.secret"
export DETECTIVE_SERVER__SESSION_SECRET_FILE="$work/session.secret"
"$bin" db migrate >/dev/null
say "PostgreSQL on $pg_port (private), s3s-fs on $s3_port"

# ---- keys and a small dataset ---------------------------------------------------
key() { "$bin" keys create --role "$1" --name "$2" | tail -n 1; }
admin_key=$(key admin scale-admin)
for i in $(seq 1 $agents); do key device "edge-$i" > "$work/edge-$i.key"; done
"$bin" synth --count 40 --size 128x128 --seed 3 --out "$work/synth" >/dev/null
"$bin" --data-dir "$work/cli" dataset import "$work/synth" --name scale --project scale >/dev/null
dataset_id=1

# ---- 3 replicas behind nginx, 2 workers -----------------------------------------
start_replica() { # n port
    DETECTIVE_SERVER__BIND="127.0.0.1:$2" "$bin" --data-dir "$work/replica-$1" serve --no-worker \
        >>"$work/replica-$1.log" 2>&1 &
    echo $! > "$work/replica-$1.pid"
    pids+=($!)
}
ports=()
for n in 1 2 3; do
    ports[n]=$(free_port)
    start_replica "$n" "${ports[n]}"
done
for n in 1 2 3; do wait_http "http://127.0.0.1:${ports[n]}/api/health" 60; done
lb_port=$(free_port)
cat > "$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/nginx-error.log;
worker_processes 1;
events { worker_connections 1024; }
http {
    log_format timed '\$request_method \$uri \$status \$request_time \$upstream_addr';
    access_log $work/nginx-access.log timed;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    client_max_body_size 64m;
    upstream detective {
        server 127.0.0.1:${ports[1]} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:${ports[2]} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:${ports[3]} max_fails=1 fail_timeout=2s;
    }
    server {
        listen 127.0.0.1:$lb_port;
        location / {
            proxy_pass http://detective;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_read_timeout 300s;
        }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
lb="http://127.0.0.1:$lb_port"
wait_http "$lb/api/health" 20
start_worker() { # n
    "$bin" --data-dir "$work/worker-$1" worker --poll-secs 0.5 --heartbeat-secs 1 --stale-secs 4 --threads 1 \
        >>"$work/worker-$1.log" 2>&1 &
    echo $! > "$work/worker-$1.pid"
    pids+=($!)
}
start_worker 1
start_worker 2
say "3 replicas (ports ${ports[1]} ${ports[2]} ${ports[3]}) behind nginx on $lb_port, 2 workers"

# ---- the dashboard's event stream on replica 1 ----------------------------------
curl -sN -H "Authorization: Bearer $admin_key" "http://127.0.0.1:${ports[1]}/api/inspection-logs/events" \
    > "$work/sse.txt" 2>/dev/null &
pids+=($!)

# ---- 4 edge agents ----------------------------------------------------------------
agent_pids=()
for i in $(seq 1 $agents); do
    DETECTIVE_KEY=$(cat "$work/edge-$i.key") "$bin" --data-dir "$work/edge-$i" edge \
        --source "synthetic://?fps=30&seed=$i&defect_rate=0.3" --cloud "$lb" --camera-id "scale-cam-$i" \
        --drain-secs 180 --journal "$work/edge-$i.journal" --threads 1 \
        --model-poll-secs 5 >"$work/edge-$i.log" 2>&1 &
    agent_pids+=($!)
    pids+=($!)
done
say "$agents edge agents"
running_agents() { local n=0 p; for p in "${agent_pids[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }

# ---- a training job, and its worker killed in the middle ---------------------------
job=$(curl -fsS -X POST -H "Authorization: Bearer $admin_key" -H 'content-type: application/json' \
    -d "{\"dataset_id\": $dataset_id, \"model\": \"t\", \"epochs\": $epochs, \"imgsz\": 128, \"batch\": 8}" \
    "$lb/api/training/start" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
job_field() { curl -fsS -H "Authorization: Bearer $admin_key" "$lb/api/training/$job" |
    python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('$1') if j.get('$1') is not None else '')"; }
end=$((SECONDS + 120))
until [[ "$(job_field status)" == running && "$(job_field epoch)" -ge 1 ]]; do
    ((SECONDS < end)) || { echo "job $job did not reach epoch 1 in 120 s" >&2; exit 1; }
    sleep 0.5
done
victim=$(job_field worker)
victim_pid=$(echo "$victim" | awk -F: '{print $(NF-1)}')
for n in 1 2; do
    if [[ "$(cat "$work/worker-$n.pid")" == "$victim_pid" ]]; then victim_n=$n; fi
done
[[ -n "${victim_n:-}" ]] || { echo "job $job runs on $victim, not one of ours" >&2; exit 1; }
kill -9 "$victim_pid"
say "SIGKILL to worker $victim_n ($victim) at epoch $(job_field epoch) of job $job ($(running_agents) agents running)"
start_worker "$victim_n"

# ---- a replica killed and started again --------------------------------------------
sleep 2
kill -9 "$(cat "$work/replica-2.pid")"
say "SIGKILL to replica 2 ($(running_agents) agents running)"
sleep 3
start_replica 2 "${ports[2]}"
wait_http "http://127.0.0.1:${ports[2]}/api/health" 60
say "replica 2 answers again"

# ---- PostgreSQL restarted ----------------------------------------------------------
sleep 2
pg_ctl_run -D "$work/pg" -m fast -w restart -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
agents_at_restart=$(running_agents)
say "PostgreSQL restarted ($agents_at_restart agents running)"

# ---- an event ingested through replica 3 reaches replica 1's stream ------------------
# (right after the restart the replicas may still be reconnecting to PostgreSQL, and an
# event sent meanwhile is missed by design: a probe batch goes again until one is seen)
probe_key=$(key device sse-probe)
end=$((SECONDS + 45))
until grep -q '"camera_id":"sse-probe"' "$work/sse.txt"; do
    ((SECONDS < end)) || { echo "FAIL: replica 1's event stream never saw a batch ingested through replica 3" >&2; exit 1; }
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    probe_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $probe_key" -H 'content-type: application/json' \
        -d "{\"camera_id\": \"sse-probe\", \"predictions\": [{\"id\": \"$probe_id\", \"captured_at\": \"$now\", \"model_version\": \"bundled@probe\"}]}" \
        "http://127.0.0.1:${ports[3]}/api/log" 2>/dev/null || true
    sleep 2
done
say "replica 1's event stream saw the batch ingested through replica 3"

# ---- the agents stop (SIGTERM: they drain), then wait for them and the job -----------
sleep "$after"
[[ $(running_agents) == "$agents" ]] || { echo "an edge agent stopped early" >&2; tail -n 20 "$work"/edge-*.log >&2; exit 1; }
kill -TERM "${agent_pids[@]}"
say "SIGTERM to the agents"
for p in "${agent_pids[@]}"; do wait "$p" || { echo "an edge agent failed" >&2; tail -n 20 "$work"/edge-*.log >&2; exit 1; }; done
say "agents done: $(grep -ho '^produced=[0-9]* delivered=[0-9]* pending=[0-9]*' "$work"/edge-*.log | tr '\n' ' ')"
end=$((SECONDS + 600))
until [[ "$(job_field status)" =~ ^(succeeded|failed|stopped)$ ]]; do
    ((SECONDS < end)) || { echo "job $job did not finish in 600 s" >&2; exit 1; }
    sleep 1
done

# ---- the checks -----------------------------------------------------------------------
psql_q() { psql "$DETECTIVE_DATABASE_URL" -At -c "$1"; }
psql_q "SELECT id FROM prediction_logs WHERE camera_id LIKE 'scale-cam-%'" | sort > "$work/db.ids"
cat "$work"/edge-*.journal | sort > "$work/journal.ids"
produced=$(wc -l < "$work/journal.ids")
unique=$(sort -u "$work/journal.ids" | wc -l)
stored=$(wc -l < "$work/db.ids")
fail=0
if [[ "$produced" -ne "$unique" ]]; then echo "FAIL: the agents' journals repeat ids ($produced lines, $unique ids)"; fail=1; fi
if ! cmp -s "$work/journal.ids" "$work/db.ids"; then
    echo "FAIL: produced $produced predictions, the database holds $stored; missing $(comm -23 "$work/journal.ids" "$work/db.ids" | wc -l), unexpected $(comm -13 "$work/journal.ids" "$work/db.ids" | wc -l)"
    fail=1
fi
if [[ "$produced" -lt 100 ]]; then echo "FAIL: only $produced predictions produced"; fail=1; fi
status=$(job_field status)
attempts=$(job_field attempts)
if [[ "$status" != succeeded ]]; then echo "FAIL: job $job ended $status: $(job_field error)"; fail=1; fi
if [[ "${attempts:-0}" -lt 2 ]]; then echo "FAIL: job $job ran $attempts time(s); the killed worker's attempt was not re-queued"; fail=1; fi

python3 - "$work/nginx-access.log" "$produced" <<'PY'
import sys
times, first, n = [], None, 0
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 4 and parts[0] == "POST" and parts[1] == "/api/log" and parts[2] == "200":
        times.append(float(parts[3]))
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000 if times else float("nan")
print(f"ingest through nginx: {len(times)} batches, latency p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms")
PY
secs=$(( ($(date +%s%N) / 1000000 - t_start) / 1000 ))
echo "predictions: produced $produced, stored $stored (each once: $([[ $fail == 0 ]] && echo yes || echo no)); $(python3 -c "print(f'{$produced/max($secs,1):.1f}')") predictions/s over the ${secs}-s run"
echo "training job $job: $status after $attempts attempts (worker $victim_n killed mid-job)"
if [[ $fail != 0 ]]; then echo "scale test FAILED"; exit 1; fi
echo "scale test passed"
