#!/usr/bin/env bash
# Builds everything `deno run main.ts` and `deno compile` embed: the BPF objects (bpf/out/) and the
# native libraries staged for embedding (dist/native/). Idempotent; needs clang, bpftool, libbpf-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build_bpf.sh
bash scripts/stage_native_libs.sh
