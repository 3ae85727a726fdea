#!/usr/bin/env bash
# The kernel lab: boots a stock Debian kernel in a throw-away QEMU VM whose root is this machine's
# file system (read-only over 9p, under a writable tmpfs overlay), runs CMD as root in the current
# directory, prints its output and exits with its exit status. Kernels and initramfs are cached
# under .lab/ in the checkout; the first run downloads them (scripts/lab/fetch_kernel.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  cat <<'USAGE'
usage: deno task lab [options] -- CMD...

Boots a stock Debian kernel under QEMU and runs CMD there as root, in the current directory.

  --kernel 5.10|6.1|6.12   kernel to boot (default 6.12)
  --lsm LIST|default       the lsm= boot parameter (default lockdown,capability,landlock,yama,
                           apparmor,bpf: BPF LSM on; "default": the kernel's own list; an Ubuntu
                           stemcell is the same list without bpf)
  --cgroup v2|hybrid|v1    cgroup layout the guest mounts (default v2)
  --timeout SECONDS        kill the guest after this long (default 1800)
  --memory MB              guest memory (default 2048)
  --kvm                    use KVM (hosts with VMX/SVM); default is software emulation (TCG)

In the guest VIGIL_TEST_TIME_SCALE (default 25 under TCG, 2 with KVM) stretches every wait of the
real-kernel tests. Exit status: CMD's; 124 when the guest hit the time limit; 125 when it stopped
without reporting one (boot failure; a kernel panic, oops or soft lockup, whose report is printed
and whose console is kept in .lab/failed/); 2 for bad usage.
USAGE
}

kernel=6.12
lsm=lockdown,capability,landlock,yama,apparmor,bpf
cgroup=v2
timeout_s=${VIGIL_LAB_TIMEOUT:-1800}
memory=2048
accel=tcg
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=${2:?--kernel needs a version}; shift 2 ;;
    --lsm) lsm=${2:?--lsm needs a list}; shift 2 ;;
    --cgroup) cgroup=${2:?--cgroup needs v2, hybrid or v1}; shift 2 ;;
    --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
    --memory) memory=${2:?--memory needs MB}; shift 2 ;;
    --kvm) accel=kvm; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "lab: unknown option '$1' (see deno task lab --help)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "lab: no command given: deno task lab [options] -- CMD..." >&2; exit 2; }
case "$kernel" in 5.10 | 6.1 | 6.12) ;; *)
  echo "lab: unknown kernel '$kernel' (choose 5.10, 6.1 or 6.12)" >&2; exit 2 ;; esac
case "$cgroup" in v2 | hybrid | v1) ;; *)
  echo "lab: unknown cgroup layout '$cgroup' (choose v2, hybrid or v1)" >&2; exit 2 ;; esac
[[ "$timeout_s" =~ ^[0-9]+$ ]] || { echo "lab: --timeout '$timeout_s' is not a number of seconds" >&2; exit 2; }
[[ "$memory" =~ ^[0-9]+$ ]] || { echo "lab: --memory '$memory' is not a number of MB" >&2; exit 2; }

bash "$root/scripts/lab/host_packages.sh"
kdir=$(bash "$root/scripts/lab/fetch_kernel.sh" "$kernel" "$root/.lab/kernels")
bash "$root/scripts/lab/initramfs.sh" "$kdir"

x=$(mktemp -d /tmp/vigil-lab.XXXXXX)
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
  rm -rf "$x"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command, as a script: the caller's directory, a few variables of the caller, the time scale.
scale=${VIGIL_TEST_TIME_SCALE:-$([ "$accel" = kvm ] && echo 2 || echo 25)}
{
  echo "cd $(printf %q "$PWD") || exit 126"
  for var in HOME DENO_DIR NO_COLOR TERM; do
    [ -n "${!var:-}" ] && echo "export $var=$(printf %q "${!var}")"
  done
  echo "export PATH=$(printf %q "$PATH")"
  echo "export VIGIL_TEST_TIME_SCALE=$scale VIGIL_LAB_KERNEL=$kernel VIGIL_LAB_CGROUP=$cgroup"
  printf 'exec'
  printf ' %q' "$@"
  echo
} >"$x/command"
touch "$x/stdout" "$x/stderr"

# loglevel=5: warnings and worse reach the console, so an oops or a soft lockup comes with its
# stack. oops=panic and softlockup_panic=1 (after 60 s, watchdog_thresh=30): a guest whose kernel
# broke stops at once with that report, instead of running on damaged or hanging until the limit.
append=(console=ttyS0 panic=-1 loglevel=5 oops=panic softlockup_panic=1 watchdog_thresh=30
  "vigil_lab_cgroup=$cgroup" "vigil_lab_kdir=$kdir")
[ "$lsm" != default ] && append+=("lsm=$lsm")
[ "$cgroup" != v2 ] && append+=(systemd.unified_cgroup_hierarchy=0)
cpu=(-accel tcg -cpu max)
[ "$accel" = kvm ] && cpu=(-accel kvm -cpu host)
start=$(date +%s)
qemu-system-x86_64 -M q35 "${cpu[@]}" -smp 2 -m "$memory" \
  -display none -monitor none -serial "file:$x/console.log" -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$kdir/initramfs.cpio.gz" -append "${append[*]}" \
  -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
  -virtfs "local,path=$x,mount_tag=exchange,security_model=none" \
  -device virtio-rng-pci </dev/null >"$x/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -F --pid="$qemu_pid" "$x/stdout" 2>/dev/null &
tail_out=$!
tail -n +1 -F --pid="$qemu_pid" "$x/stderr" >&2 2>/dev/null &
tail_err=$!
timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [ $(($(date +%s) - start)) -ge "$timeout_s" ]; then
    timed_out=1
    kill -9 "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$tail_out" "$tail_err" 2>/dev/null || true
elapsed=$(($(date +%s) - start))

# What the guest kernel said about its failure: the first report of a kernel bug with its stack,
# then the console's last lines; the whole console is kept under .lab/failed/.
last_lines() {
  local first kept
  first=$(grep -n -m1 -E 'BUG:|Oops|Kernel panic|general protection|WARNING:|Call Trace|hung_task' \
    "$x/console.log" 2>/dev/null | cut -d: -f1 || true)
  if [ -n "$first" ]; then
    echo "lab: the guest kernel reported (console line $first):" >&2
    sed -n "${first},$((first + 45))p" "$x/console.log" | sed 's/^/lab:   /' >&2 || true
  fi
  if [ -z "$first" ] || [ "$(wc -l <"$x/console.log")" -gt $((first + 45)) ]; then
    echo "lab: last lines of the guest console:" >&2
    tail -n 15 "$x/console.log" 2>/dev/null | sed 's/^/lab:   /' >&2 || true
  fi
  tail -n 5 "$x/qemu.log" 2>/dev/null | sed 's/^/lab:   qemu: /' >&2 || true
  kept="$root/.lab/failed/console-$kernel-$(date +%Y%m%d-%H%M%S)-$$.log"
  mkdir -p "$root/.lab/failed" && cp "$x/console.log" "$kept" 2>/dev/null &&
    echo "lab: the whole guest console: $kept" >&2 || true
}
if [ "$timed_out" = 1 ]; then
  echo "lab: FAIL: the guest (kernel $kernel) did not finish within ${timeout_s} s and was killed" >&2
  last_lines
  exit 124
fi
if [ ! -f "$x/status" ]; then
  echo "lab: FAIL: the guest (kernel $kernel) stopped after ${elapsed} s without an exit status (boot failure or kernel panic)" >&2
  last_lines
  exit 125
fi
status=$(cat "$x/status")
echo "lab: kernel $(cat "$kdir/release"), lsm ${lsm}, cgroup $cgroup: exit $status after ${elapsed} s" >&2
exit "$status"
