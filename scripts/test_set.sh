#!/usr/bin/env bash
# The two test sets. unit: no root, no kernel, seconds (pure logic against fakes and captured
# fixtures). system: the real kernel, real processes and containers, root (the README's test
# command runs both). The system set is listed here; unit is everything else under tests/.
# Usage: test_set.sh unit|system [deno test options...]
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM=(
  tests/agent tests/api_e2e tests/bpf tests/containers tests/deploy tests/export_e2e tests/ffi
  tests/metadata_e2e tests/policy_e2e tests/compile_test.ts
  tests/api/notify_test.ts tests/api/server_test.ts
  tests/cgroup/namespace_test.ts tests/cgroup/scan_test.ts
  tests/cli/policy_check_test.ts tests/cli/policy_check_hostile_test.ts tests/cli/probe_test.ts
  tests/cli/run_errors_test.ts
  tests/kernel/features_test.ts tests/kernel/min_version_test.ts tests/kernel/mounts_test.ts
  tests/metadata/containerd_test.ts tests/metadata/runtime_ids_test.ts
  tests/metrics/bpf_stats_test.ts tests/metrics/promtool_test.ts
  tests/policy/load_dir_test.ts
)
set=${1:?usage: test_set.sh unit|system [deno test options...]}
shift
case "$set" in
  unit)
    ignore=$(IFS=,; echo "${SYSTEM[*]}")
    exec deno test --allow-all --no-prompt --ignore="$ignore" "$@" tests/
    ;;
  system)
    bash scripts/build.sh >/dev/null
    exec deno test --allow-all --no-prompt "$@" "${SYSTEM[@]}"
    ;;
  *) echo "test_set.sh: unknown set '$set' (unit or system)" >&2; exit 2 ;;
esac
