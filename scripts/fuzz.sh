#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers of outside input (crates/detective-fuzz)
# under AFL++, through `cargo afl` (stable Rust; installed here once with
# `cargo install cargo-afl`, which also builds AFL++ itself).
#
# Usage: scripts/fuzz.sh [--seconds N] [--keep] [TARGET...]
#   --seconds N  time per target (default 120)
#   --keep       minimise what AFL++ found (afl-cmin) into fuzz/corpus/TARGET,
#                to commit, so the next run and every test run start from it
#   TARGET       some of: yolo_labels data_yaml coco_json log_batch image_decode
#                dataset_zip pickle torch_pt onnx_model multipart_upload v4l2_buffer
#                (default: all)
# Each target starts from fuzz/corpus/TARGET; the figures per target (executions,
# executions per second, corpus, crashes, hangs) are printed at the end. A crash
# or hang is copied to fuzz/regressions/TARGET/ (which the test suite replays)
# and the script fails. Runs go to fuzz/out/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=120
keep=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -*) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(yolo_labels data_yaml coco_json log_batch image_decode dataset_zip \
  pickle torch_pt onnx_model multipart_upload v4l2_buffer)

if ! cargo afl --version >/dev/null 2>&1; then
  echo "installing cargo-afl (once; it builds AFL++ too)" >&2
  cargo install cargo-afl --locked
fi
cargo afl build --release
bin=target/release/detective-fuzz-afl

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
mkdir -p out
failed=0
summary=()
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { echo "no corpus for $t (fuzz/corpus/$t)" >&2; exit 2; }
  rm -rf "out/$t"
  echo "== $t for ${seconds} s" >&2
  # -m: the target's memory limit (MB); -t: a run longer than 1 s is a hang.
  cargo afl fuzz -V "$seconds" -m 512 -t 1000 -i "corpus/$t" -o "out/$t" -- "$bin" "$t" > "out/$t.log" 2>&1 || {
    echo "afl-fuzz stopped on $t:" >&2
    tail -n 20 "out/$t.log" >&2
    failed=1
    continue
  }
  stats="out/$t/default/fuzzer_stats"
  value() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
  crashes=$(value saved_crashes)
  hangs=$(value saved_hangs)
  summary+=("$(printf '%-13s execs %10s  per s %8s  corpus %5s  crashes %s  hangs %s' \
    "$t" "$(value execs_done)" "$(value execs_per_sec)" "$(value corpus_count)" "$crashes" "$hangs")")
  if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
    mkdir -p "regressions/$t"
    for f in "out/$t/default/crashes/"id:* "out/$t/default/hangs/"id:*; do
      [ -f "$f" ] && cp "$f" "regressions/$t/$(sha256sum "$f" | cut -c1-16)"
    done
    failed=1
  fi
  if [ "$keep" = 1 ]; then
    rm -rf "out/$t.cmin"
    cargo afl cmin -i "out/$t/default/queue" -o "out/$t.cmin" -- "$bin" "$t" > "out/$t.cmin.log" 2>&1
    rm -rf "corpus/$t"
    mkdir -p "corpus/$t"
    for f in "out/$t.cmin/"*; do
      [ -f "$f" ] && cp "$f" "corpus/$t/$(sha256sum "$f" | cut -c1-16)"
    done
  fi
done
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ] || echo "crashes or hangs were copied to fuzz/regressions/: each is now replayed by the test suite" >&2
exit "$failed"
