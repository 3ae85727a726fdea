#!/usr/bin/env bash
# Runs the kernel-dependent suites (probe, loader, process tracking, policy end-to-end, cgroup
# detection) in the kernel lab on each kernel, and prints one summary line per kernel.
# Usage: test_kernels.sh [--no-build] [--jobs N] [VARIANT...]
#   VARIANT: 5.10 | 6.1 | 6.12 | 6.12-ubuntu (default: all)
#   --jobs N: run up to N guests side by side (each guest's output is printed whole when it ends)
# 6.12-ubuntu is 6.12 with an Ubuntu stemcell's LSM list (no bpf) and hybrid cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what depends on the kernel: captured-file and pure-logic tests give the same answer
# everywhere and cost minutes under emulation.
SUITES=(
  tests/kernel tests/cli/probe_test.ts tests/bpf tests/agent tests/policy_e2e
  tests/cgroup/scan_test.ts tests/cgroup/namespace_test.ts
)
# 6.12-ubuntu is the same kernel as 6.12: run what its differences touch (no BPF LSM, hybrid
# cgroups): probing and reasons, process tracking with cgroup ids, cgroup detection, and the
# hooks whose plan depends on the LSM list. The rest would repeat 6.12's answers at ~1 min each.
UBUNTU_SUITES=(
  tests/kernel tests/cli/probe_test.ts tests/agent
  tests/cgroup/scan_test.ts tests/cgroup/namespace_test.ts
  tests/policy_e2e/functions_test.ts tests/policy_e2e/hooks_test.ts
)
# VIGIL_KERNEL_SUITES="a b": run only these (e.g. one test file while working on it).
if [ -n "${VIGIL_KERNEL_SUITES:-}" ]; then
  read -ra SUITES <<<"$VIGIL_KERNEL_SUITES"
  UBUNTU_SUITES=("${SUITES[@]}")
fi
UBUNTU_LSM=lockdown,capability,landlock,yama,apparmor

build=1
jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    *) break ;;
  esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "test:kernels: --jobs '$jobs' is not a positive number" >&2; exit 2; }
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(5.10 6.1 6.12 6.12-ubuntu)
for v in "${variants[@]}"; do
  case "$v" in 5.10 | 6.1 | 6.12 | 6.12-ubuntu) ;; *)
    echo "test:kernels: unknown variant '$v' (5.10, 6.1, 6.12, 6.12-ubuntu)" >&2; exit 2 ;; esac
done
# --no-build: the objects are built already (e.g. several of these run side by side).
[ "$build" = 0 ] || bash scripts/build.sh >/dev/null

lab_opts() {
  case "$1" in
    6.12-ubuntu) echo "--kernel 6.12 --lsm $UBUNTU_LSM --cgroup hybrid" ;;
    *) echo "--kernel $1" ;;
  esac
}

# Guests side by side must not fetch the same kernel or build its initramfs at the same time:
# prepare every kernel first, one after the other.
if [ "$jobs" -gt 1 ]; then
  bash scripts/lab/host_packages.sh
  for v in "${variants[@]}"; do
    kdir=$(bash scripts/lab/fetch_kernel.sh "${v%-ubuntu}" .lab/kernels)
    bash scripts/lab/initramfs.sh "$kdir"
  done
fi

LAB_TIMEOUT=${VIGIL_LAB_TIMEOUT:-1800}
[[ "$LAB_TIMEOUT" =~ ^[0-9]+$ ]] || { echo "test:kernels: VIGIL_LAB_TIMEOUT '$LAB_TIMEOUT' is not a number of seconds" >&2; exit 2; }
work=$(mktemp -d /tmp/vigil-test-kernels.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One boot of the lab for variant $1, its output to file $2 (and to the terminal when alone).
boot_variant() {
  local v=$1 log=$2 timeout=$3 suites=("${SUITES[@]}")
  [ "$v" != 6.12-ubuntu ] || suites=("${UBUNTU_SUITES[@]}")
  # Type checking is the host's job (deno task check); the guest only runs the tests.
  # shellcheck disable=SC2046
  if [ "$jobs" = 1 ]; then
    bash scripts/lab.sh $(lab_opts "$v") --timeout "$timeout" -- deno test --allow-all \
      --no-prompt --no-check "${suites[@]}" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
  fi
  bash scripts/lab.sh $(lab_opts "$v") --timeout "$timeout" -- deno test --allow-all \
    --no-prompt --no-check "${suites[@]}" >"$log" 2>&1
}

# Runs one variant; its output goes to $work/<variant>.log. A guest whose kernel crashed (no exit
# status: panic, oops, soft lockup; seen only under emulation, while live kernel code is patched
# on two vCPUs) boots once more if at least 40 % of the time limit is left, and the summary says
# so with the crash's first line. A test failure or a time-out is never retried.
run_variant() {
  local v=$1 log="$work/$1.log" start status left crash
  start=$(date +%s)
  if [ "$v" = 6.12-ubuntu ]; then
    echo "test:kernels: $v: running ${UBUNTU_SUITES[*]}" >&2
  else
    echo "test:kernels: $v: running ${SUITES[*]}" >&2
  fi
  set +e
  boot_variant "$v" "$log" "$LAB_TIMEOUT"
  status=$?
  left=$((LAB_TIMEOUT - ($(date +%s) - start)))
  if [ "$status" = 125 ] && [ $((left * 5)) -ge $((LAB_TIMEOUT * 2)) ]; then
    crash=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -A1 -m1 '^lab: the guest kernel reported' |
      tail -1 | sed 's/^lab: *//')
    echo "after a guest crash at $(($(date +%s) - start)) s: ${crash:-no kernel report}" >"$work/$v.retried"
    mv "$log" "$work/$v.crashed.log"
    echo "test:kernels: $v: the guest crashed (no exit status); booting it once more" >&2
    boot_variant "$v" "$log" "$left"
    status=$?
  fi
  set -e
  echo "$status $(($(date +%s) - start))" >"$work/$v.result"
}

running=0
for v in "${variants[@]}"; do
  if [ "$jobs" = 1 ]; then
    run_variant "$v"
    continue
  fi
  run_variant "$v" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

summary=()
failed=0
for v in "${variants[@]}"; do
  log="$work/$v.log"
  if [ "$jobs" -gt 1 ]; then
    if [ -f "$work/$v.crashed.log" ]; then
      echo "==== test:kernels: output of kernel $v, the boot that crashed ===="
      cat "$work/$v.crashed.log"
    fi
    echo "==== test:kernels: output of kernel $v ===="
    cat "$log" 2>/dev/null || true
  elif [ -f "$work/$v.crashed.log" ]; then
    echo "==== test:kernels: kernel $v, the boot that crashed: its end ===="
    sed -n '/^lab: FAIL/,$p' "$work/$v.crashed.log" | head -n 80
  fi
  read -r status elapsed <"$work/$v.result" 2>/dev/null || { status=125; elapsed=?; }
  # deno's last line: "ok | 12 passed | 0 failed | 3 ignored (5m)" or "FAILED | ...".
  counts=$(sed 's/\x1b\[[0-9;]*m//g' "$log" 2>/dev/null | grep -E '^(ok|FAILED) \| [0-9]+ passed' |
    tail -1 | sed -E 's/^(ok|FAILED) \| //; s/ \([^)]*\)$//' || true)
  ignored=$(sed 's/\x1b\[[0-9;]*m//g' "$log" 2>/dev/null | grep -c '\[IGNORED: .*\] \.\.\. ignored' || true)
  verdict=PASS
  [ "$status" = 0 ] || { verdict="FAIL (exit $status)"; failed=1; }
  retried=$(cat "$work/$v.retried" 2>/dev/null || true)
  summary+=("kernel $v: $verdict: ${counts:-no test summary} (${ignored} ignored with a reason) in ${elapsed} s${retried:+, second boot $retried}")
done
# A failed kernel's reason again, next to the summary: with several guests the reason would
# otherwise sit in the middle of a long output (CI shows its end).
for v in "${variants[@]}"; do
  read -r status _ <"$work/$v.result" 2>/dev/null || status=125
  [ "$status" != 0 ] || continue
  echo
  echo "==== test:kernels: why kernel $v failed ===="
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$work/$v.log" 2>/dev/null || true)
  if grep -q '^lab: FAIL' <<<"$clean"; then
    sed -n '/^lab: FAIL/,$p' <<<"$clean" | head -n 80
  else
    tail -n 40 <<<"$clean"
  fi
done
echo
for line in "${summary[@]}"; do echo "test:kernels: $line"; done
exit "$failed"
