#!/usr/bin/env bash
# Type-checks the `cuda` feature (Burn's CUDA backend for `train --device cuda`) on a
# machine without a GPU or internet access. Burn's CUDA stack (cubecl-llvm and
# tracel-llvm-bundler) downloads an LLVM bundle in its build scripts; both skip that
# native set-up when DOCS_RS is set, as on docs.rs. `cargo check` does not link, so every
# line of Rust behind the feature, ours and Burn's, is still compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS_RS=1 cargo check -p detective --features cuda "$@"
