#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that `detective` serves models with.
# It comes from the PyPI `onnxruntime` wheel (a zip); the library is extracted to
#   ${DETECTIVE_ORT_HOME:-$HOME/.cache/defect-detective/onnxruntime}/libonnxruntime.so
# where the binary looks for it by itself. Idempotent.
set -euo pipefail
version=${ORT_VERSION:-1.32.0}
dest=${DETECTIVE_ORT_HOME:-$HOME/.cache/defect-detective/onnxruntime}
if [ -f "$dest/libonnxruntime.so" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching onnxruntime $version from PyPI…" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "onnxruntime==$version" -d "$tmp"
wheel=$(ls "$tmp"/onnxruntime-*.whl)
mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os, shutil
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    libs = [n for n in z.namelist() if os.path.basename(n).startswith("libonnxruntime.so")]
    if not libs:
        sys.exit("no libonnxruntime.so in " + wheel)
    src = sorted(libs, key=len)[-1]
    with z.open(src) as f, open(os.path.join(dest, "libonnxruntime.so"), "wb") as out:
        shutil.copyfileobj(f, out)
PY
echo "$version" > "$dest/VERSION"
echo "installed $dest/libonnxruntime.so" >&2
