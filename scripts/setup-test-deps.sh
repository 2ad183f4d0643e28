#!/usr/bin/env bash
# Installs the system packages the test suite needs, once. Safe to re-run.
# Today: the ONNX Runtime library (from the PyPI wheel) and ffmpeg (video sources);
# later issues add chromium and chromium-driver here.
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

# ffmpeg/ffprobe decode video files and streams (predict --source clip.mp4, edge agent).
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "installing ffmpeg (Debian package)" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  if ! "${sudo_cmd[@]}" apt-get install -y --no-install-recommends ffmpeg >/dev/null; then
    "${sudo_cmd[@]}" apt-get update >/dev/null
    "${sudo_cmd[@]}" apt-get install -y --no-install-recommends ffmpeg >/dev/null
  fi
fi
