#!/usr/bin/env bash
# Runs the product on its embedded defaults. For now: generate a synthetic
# metal-defect dataset and describe it. Later issues turn this into the full demo
# (server + dashboard + edge agent on a synthetic camera).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-data/synth}
run() { cargo run --quiet --release --locked -p detective -- "$@"; }
run synth --task segment --count 300 --size 320x320 --out "$out" --seed 1 --force
run dataset info "$out"
run dataset check "$out"
# Serving: the Ultralytics YOLOv8n NEU-DET export on a few real steel images.
"$(dirname "$0")/setup-onnxruntime.sh"
run predict --model ../shared/models/neu-yolov8n-320.onnx --source "../shared/data/NEU-DET/images/test/patches_26*.jpg" --save demo-data/predictions
