#!/bin/sh
# Entry point of the GPU image: puts PyPI torch's and the NVIDIA wheels' libraries on the
# loader path and points the binary at onnxruntime-gpu's library, then runs the command.
set -eu
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
nvidia=$(find "$site/nvidia" -maxdepth 2 -name lib -type d 2>/dev/null | paste -sd: -)
export LD_LIBRARY_PATH="$site/torch/lib${nvidia:+:$nvidia}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ort=$(find "$site/onnxruntime/capi" -name 'libonnxruntime.so*' 2>/dev/null | head -n 1)
if [ -n "$ort" ]; then export DETECTIVE_ORT_LIB="$ort"; fi
exec "$@"
