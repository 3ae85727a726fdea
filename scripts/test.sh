#!/usr/bin/env bash
# Fresh machine → full test run: installs dependencies, builds the BPF objects and embedded
# libraries, checks the generated ABI module, and runs every test (real-kernel tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
deno task build
deno task gen:abi --check
deno task test
