#!/usr/bin/env bash
# Runs the product on its embedded defaults. For now: generate a synthetic
# metal-defect dataset, describe it, and detect defects with the bundled model.
# Later issues turn this into the full demo (server + dashboard + edge agent on a
# synthetic camera).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-data/synth}
run() { cargo run --quiet --release --locked -p detective -- "$@"; }
run synth --task segment --count 300 --size 320x320 --out "$out" --seed 1 --force
run dataset info "$out"
run dataset check "$out"
"$(dirname "$0")/setup-onnxruntime.sh"
# The bundled detector (built into the binary, no model argument) on fresh synthetic parts.
run synth --task detect --count 40 --size 320x320 --out demo-data/parts --seed 11 --force
run predict --source demo-data/parts/images/test --save demo-data/predictions
# Any Ultralytics export runs unchanged: their YOLOv8n NEU-DET model on real steel images.
if [ -f ../shared/models/neu-yolov8n-320.onnx ]; then
  run predict --model ../shared/models/neu-yolov8n-320.onnx \
    --source "../shared/data/NEU-DET/images/test/patches_26*.jpg" --save demo-data/predictions-neu
fi
