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

cargo test --workspace --locked "$@"
