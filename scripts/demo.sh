#!/usr/bin/env bash
# Runs the product on its embedded defaults: generates a synthetic metal-defect
# dataset, describes it, detects defects with the bundled model, then runs
# `detective demo`: the cloud API on a SQLite file and a local object folder with an
# edge agent on a synthetic camera logging to it. The dashboard comes later.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-data/synth}
run() { cargo run --quiet --release --locked -p detective -- "$@"; }
run synth --task segment --count 300 --size 320x320 --out "$out" --seed 1 --force
run dataset info "$out"
run dataset check "$out"
"$(dirname "$0")/setup-onnxruntime.sh"
"$(dirname "$0")/setup-llm.sh"
# The bundled detector (built into the binary, no model argument) on fresh synthetic parts.
run synth --task detect --count 40 --size 320x320 --out demo-data/parts --seed 11 --force
run predict --source demo-data/parts/images/test --save demo-data/predictions
# Any Ultralytics export runs unchanged: their YOLOv8n NEU-DET model on real steel images.
if [ -f ../shared/models/neu-yolov8n-320.onnx ]; then
  run predict --model ../shared/models/neu-yolov8n-320.onnx \
    --source "../shared/data/NEU-DET/images/test/patches_26*.jpg" --save demo-data/predictions-neu
fi
# The whole product in one process on the embedded defaults (SQLite file + object
# folder under demo-data/service, the bundled model): the API, open to this machine
# without keys, and an edge agent on a synthetic camera logging to it.
# DEMO_SERVE=0 skips it; Ctrl-C stops it.
if [ "${DEMO_SERVE:-1}" != 0 ]; then
  echo "try: curl -s localhost:8000/api/metrics; curl -s 'localhost:8000/api/inspection-logs?defective=true&limit=5'"
  run --data-dir demo-data/service demo --bind 127.0.0.1:8000
fi
