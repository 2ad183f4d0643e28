#!/usr/bin/env bash
# Installs the system packages the test suite needs, once. Safe to re-run.
# Today: the ONNX Runtime library (from the PyPI wheel); later issues add ffmpeg,
# chromium and chromium-driver here.
set -euo pipefail
need=()
for tool in cargo python3; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "missing tools: ${need[*]} (install the Rust toolchain and python3)" >&2
  exit 1
fi

"$(dirname "$0")/setup-onnxruntime.sh"
