#!/usr/bin/env bash
# Runs the kernel-dependent suites (probe, loader, process tracking, policy end-to-end, cgroup
# detection) in the kernel lab on each kernel, and prints one summary line per kernel.
# Usage: test_kernels.sh [--no-build] [VARIANT...]   VARIANT: 5.10 | 6.1 | 6.12 | 6.12-ubuntu (default: all)
# 6.12-ubuntu is 6.12 with an Ubuntu stemcell's LSM list (no bpf) and hybrid cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what depends on the kernel: captured-file and pure-logic tests give the same answer
# everywhere and cost minutes under emulation.
SUITES=(
  tests/kernel tests/cli/probe_test.ts tests/bpf tests/agent tests/policy_e2e
  tests/cgroup/scan_test.ts tests/cgroup/namespace_test.ts
)
UBUNTU_LSM=lockdown,capability,landlock,yama,apparmor

build=1
if [ "${1:-}" = --no-build ]; then
  build=0
  shift
fi
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(5.10 6.1 6.12 6.12-ubuntu)
# --no-build: the objects are built already (e.g. several of these run side by side).
[ "$build" = 0 ] || bash scripts/build.sh >/dev/null
summary=()
failed=0
for v in "${variants[@]}"; do
  case "$v" in
    5.10 | 6.1 | 6.12) opts=(--kernel "$v") ;;
    6.12-ubuntu) opts=(--kernel 6.12 --lsm "$UBUNTU_LSM" --cgroup hybrid) ;;
    *) echo "test:kernels: unknown variant '$v' (5.10, 6.1, 6.12, 6.12-ubuntu)" >&2; exit 2 ;;
  esac
  log=$(mktemp /tmp/vigil-test-kernels.XXXXXX)
  echo "test:kernels: $v: running ${SUITES[*]}" >&2
  start=$(date +%s)
  set +e
  # Type checking is the host's job (deno task check); the guest only runs the tests.
  bash scripts/lab.sh "${opts[@]}" -- deno test --allow-all --no-prompt --no-check "${SUITES[@]}" \
    2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  elapsed=$(($(date +%s) - start))
  # deno's last line: "ok | 12 passed | 0 failed | 3 ignored (5m)" or "FAILED | ...".
  counts=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1 |
    sed -E 's/^(ok|FAILED) \| //; s/ \([^)]*\)$//')
  ignored=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -c '\[IGNORED: .*\] \.\.\. ignored' || true)
  verdict=PASS
  [ "$status" = 0 ] || { verdict="FAIL (exit $status)"; failed=1; }
  summary+=("kernel $v: $verdict: ${counts:-no test summary} (${ignored} ignored with a reason) in ${elapsed} s")
  rm -f "$log"
done
echo
for line in "${summary[@]}"; do echo "test:kernels: $line"; done
exit "$failed"
