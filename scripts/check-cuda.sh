#!/usr/bin/env bash
# The GPU path, built offline.
#
#   scripts/check-cuda.sh --check   compile-checks the `cuda` feature (any machine; CI runs it)
#   scripts/check-cuda.sh           builds it and, on a machine with an NVIDIA GPU, runs it end
#                                   to end on cuda:0: a few training steps of both tasks, val,
#                                   predict (our checkpoint and its ONNX export) and bench
#
# Our checkpoints run on a GPU through Burn's LibTorch backend over the CUDA build of PyPI's
# `torch` 2.9.0 (the version tch 0.22 binds). The wheel is installed once into a venv under
# ~/.cache/defect-detective/torch-cuda (pip: a package registry); the build then finds it
# through LIBTORCH and downloads nothing. `--check` needs the wheel alone (`--no-deps`:
# headers and libraries to compile against, about 900 MB); a run needs the NVIDIA runtime
# wheels it depends on too. ONNX models need no feature: ONNX Runtime's CUDA provider is
# registered at run time (`--device cuda`) when the library is a GPU build (PyPI's
# `onnxruntime-gpu`, pointed to by DETECTIVE_ORT_LIB), which a run installs into the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/defect-detective-target}
VENV=${DETECTIVE_TORCH_VENV:-$HOME/.cache/defect-detective/torch-cuda}
mode=run
if [[ "${1:-}" == "--check" ]]; then mode=check; fi

[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [[ ! -f "$site/torch/include/torch/torch.h" && ! -d "$site/torch/include/torch" ]]; then
    echo "installing PyPI torch 2.9.0 (CUDA build) into $VENV (once)"
    if [[ $mode == check ]]; then
        "$VENV/bin/pip" install -q --no-deps torch==2.9.0
    else
        "$VENV/bin/pip" install -q torch==2.9.0
    fi
fi
export LIBTORCH="$site/torch" LIBTORCH_CXX11_ABI=1

if [[ $mode == check ]]; then
    cargo check --locked -p detective --features cuda
    exit 0
fi

"$VENV/bin/pip" install -q onnxruntime-gpu==1.31.1 || echo "no onnxruntime-gpu: ONNX models stay on the CPU provider"
cargo build --release --locked -p detective --features cuda
bin="$CARGO_TARGET_DIR/release/detective"
# LibTorch's libraries (and the NVIDIA runtime wheels beside it) at run time.
nvidia_libs=$(find "$site/nvidia" -maxdepth 2 -name lib -type d 2>/dev/null | paste -sd: -)
export LD_LIBRARY_PATH="$site/torch/lib${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ort_gpu=$(find "$site/onnxruntime/capi" -name 'libonnxruntime.so*' 2>/dev/null | head -1 || true)

if [[ ! -d /proc/driver/nvidia/gpus ]] || [[ -z "$(ls -A /proc/driver/nvidia/gpus)" ]]; then
    echo "built; no NVIDIA GPU here, so nothing to run"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
set -x
"$bin" synth --count 64 --size 256x256 --out det --seed 1
"$bin" synth --task segment --count 64 --size 256x256 --out seg --seed 2
"$bin" train --data det --model n --epochs 2 --imgsz 256 --batch 16 --device cuda --out runs/det
"$bin" train --task segment --data seg --epochs 2 --imgsz 256 --batch 8 --device cuda --out runs/seg
"$bin" val --model runs/det/weights/best.bpk --data det --device cuda
"$bin" val --task segment --model runs/seg/weights/best.bpk --data seg --device cuda
"$bin" predict --model runs/seg/weights/best.bpk --source seg/images/val --device cuda --json > seg.jsonl
head -3 seg.jsonl
"$bin" export --model runs/det/weights/best.bpk
if [[ -n "$ort_gpu" ]]; then
    DETECTIVE_ORT_LIB="$ort_gpu" "$bin" predict --model runs/det/weights/best.onnx --source det/images/val \
        --device cuda --json > det.jsonl
    head -3 det.jsonl
fi
"$bin" bench train --task segment --imgsz 256 --batch 8 --device cuda || true
"$bin" train --task segment --data seg --epochs 1 --imgsz 256 --batch 8 --device auto --out runs/auto
