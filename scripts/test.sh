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
# The sources without the feature differ only in `source::open_v4l2`, a one-line call of
# `without_v4l2`, which every build compiles and the run above tests (a second run without
# the feature rebuilt most dependencies for it: 7 of a fresh CI run's 40 minutes).
set -e
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
