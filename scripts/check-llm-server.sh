#!/usr/bin/env bash
# Checks the Insights panel's OpenAI-compatible client against a real llama.cpp server:
# llama-cpp-python[server] (PyPI) serving SmolLM2-135M-Instruct (scripts/setup-llm.sh).
# llama-cpp-python builds llama.cpp from source (10-20 minutes on 2 cores), so this is a
# script run before a release, not part of ./scripts/test.sh; the built wheel is cached in
#   ${DETECTIVE_CACHE_DIR:-$HOME/.cache/defect-detective}/wheels
# and the server's virtual environment in .../llama-venv, so a second run starts at once.
#
#   ./scripts/check-llm-server.sh            # build/install once, start the server, run the test
#   PORT=8089 ./scripts/check-llm-server.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${DETECTIVE_CACHE_DIR:-$HOME/.cache/defect-detective}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
venv="$cache/llama-venv"
# The wheel is built for AVX2 without AMX: llama.cpp's AMX kernels, which -march=native turns on
# on this machine's CPU, crash with SIGSEGV in ggml_backend_amx_mul_mat here (a VM that does
# not grant the AMX tile state), on every request.
wheels="$cache/wheels/llama-cpp-avx2"
cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
port=${PORT:-8089}
./scripts/setup-llm.sh
gguf="$cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf"
if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null || [ ! -f "$venv/.avx2" ]; then
  python3 -m venv "$venv"
  mkdir -p "$wheels"
  if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $version from source (10-20 minutes, once)…" >&2
    start=$(date +%s)
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/pip" wheel --quiet --no-cache-dir --no-deps "llama-cpp-python==$version" -w "$wheels"
    echo "built in $(( $(date +%s) - start )) s" >&2
  fi
  wheel=$(ls "$wheels"/llama_cpp_python-"$version"-*.whl | head -1)
  "$venv/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"
  "$venv/bin/pip" install --quiet "$wheel[server]"
  touch "$venv/.avx2"
fi
log=$(mktemp)
"$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias smollm2 --host 127.0.0.1 --port "$port" \
  --n_ctx 4096 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 1
done
echo "llama.cpp server (llama-cpp-python $version) on http://127.0.0.1:$port/v1" >&2
DETECTIVE_TEST_LLM_URL="http://127.0.0.1:$port/v1" DETECTIVE_TEST_LLM_MODEL=smollm2 \
  cargo test --workspace --locked --features detective/v4l2 -p detective-server --test server -- --ignored --nocapture \
  insights_from_an_openai_compatible_server_are_checked
