#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need first (idempotent).
# Usage: ./scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-test-deps.sh

# Real-data tests read ../shared/data (NEU-DET, MagneticTile); say so clearly if absent.
if [ ! -d ../shared/data/NEU-DET ]; then
  echo "warning: ../shared/data not found; real-data tests will fail" >&2
fi

# Run everything, keep the output, and close with one total line
# ("tests: N passed, M failed") so the last line is not a doc-test "0 passed".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# With the V4L2 camera code (feature `v4l2`; setup installed libclang for it).
cargo test --workspace --locked --features detective/v4l2 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# And the sources without it, as the default build has them (v4l2:// is refused with the way out).
# `--workspace --lib` keeps every dependency's features as in the run above, so only
# detective-edge is built again (`-p detective-edge` alone would rebuild most dependencies).
if [ "$status" -eq 0 ]; then
  cargo test --workspace --lib --locked source:: 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
fi
set -e
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
