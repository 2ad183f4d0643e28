#!/usr/bin/env bash
# Installs the system packages the test suite needs, once. Safe to re-run.
# Today: nothing beyond the Rust toolchain; later issues add ffmpeg, chromium,
# chromium-driver and the ONNX Runtime library here.
set -euo pipefail
need=()
for tool in cargo python3; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "missing tools: ${need[*]} (install the Rust toolchain and python3)" >&2
  exit 1
fi
