#!/usr/bin/env bash
# Fresh machine → running agent: installs dependencies, builds, and runs vigil in the foreground
# with the default policy directory, exporting events to stdout. Extra arguments go to `vigil run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
deno task --quiet build >&2
exec deno run --allow-all main.ts run "$@"
