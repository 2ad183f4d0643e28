#!/usr/bin/env bash
# Reproduces the detector's pretrained defect priors models/prior-{n,t}.{bpk,json}
# (models/README.md has the figures). Resumable: run it again after an interruption and
# each step continues where it stopped (the corpus is kept, training resumes from
# weights/last).
#
#   scripts/pretrain-prior.sh [n|t|all]     (default all; release build of detective on PATH
#                                            or in $DETECTIVE_BIN)
#
# n: YOLOv8n from random weights, 6 epochs on the wide synthetic corpus.
# t: our bundled t detector (models/detector-t-320, trained on the standard synthetic
#    parts) continued for 2 epochs on the same corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DETECTIVE_BIN:-$(command -v detective || echo "${CARGO_TARGET_DIR:-target}/release/detective")}
unset DETECTIVE_BIN   # not a setting: the binary refuses DETECTIVE_ variables it does not know
which=${1:-all}
corpus=data/prior
if [[ ! -f $corpus/data.yaml ]]; then
    "$bin" synth --count 3200 --size 200x200,320x320,480x360,640x480 --variety wide --max-defects 6 \
        --defect-rate 0.85 --format jpg --seed 100 --split 0.95,0.05,0 --out $corpus --force
fi
# A run folder holds `.unfinished` from its start until training ends: with it and a
# saved state the run is resumed; without a best.bpk it is started; else it is done.
run() { # out, args…
    local out=$1; shift
    if [[ -f $out/.unfinished && -f $out/weights/last.state ]]; then
        "$bin" train --resume --out "$out"
    elif [[ ! -f $out/weights/best.bpk || -f $out/.unfinished ]]; then
        mkdir -p "$out" && touch "$out/.unfinished"
        "$bin" train --data $corpus "$@" --out "$out"
    fi
    rm -f "$out/.unfinished"
}
if [[ $which == n || $which == all ]]; then
    run runs/prior-n --model n --weights none --epochs 6 --imgsz 320 --batch 16 --seed 0 \
        --warmup-epochs 1 --close-mosaic 1 --save-period 1 --no-plots
    cp runs/prior-n/weights/best.bpk models/prior-n.bpk
    cp runs/prior-n/weights/best.json models/prior-n.json
fi
if [[ $which == t || $which == all ]]; then
    run runs/prior-t --model t --weights models/detector-t-320.bpk --epochs 2 --imgsz 320 --batch 16 --seed 0 \
        --warmup-epochs 0.5 --close-mosaic 1 --save-period 1 --no-plots
    cp runs/prior-t/weights/best.bpk models/prior-t.bpk
    cp runs/prior-t/weights/best.json models/prior-t.json
fi
