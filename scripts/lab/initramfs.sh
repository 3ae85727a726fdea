#!/usr/bin/env bash
# Builds KDIR/initramfs.cpio.gz for a kernel fetched by fetch_kernel.sh: a static busybox, the lab's
# PID 1 (scripts/lab/init) and stage 2 and the modules the guest needs to reach its root (9p over virtio,
# overlay) with their dependencies in load order. A module modules.dep does not list is built in.
# Usage: initramfs.sh KDIR
set -euo pipefail
kdir=$1
here=$(cd "$(dirname "$0")" && pwd)
out="$kdir/initramfs.cpio.gz"
if [ -f "$out" ] && [ "$out" -nt "$here/init" ] && [ "$out" -nt "$here/stage2.sh" ]; then
  exit 0
fi
release=$(cat "$kdir/release")
modroot="$kdir/root/lib/modules/$release"
# Debian's busybox-static (the dynamic `busybox` package would not run without the host's libc).
busybox=/bin/busybox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
cp "$busybox" "$work/bin/busybox"
cp "$here/init" "$work/init"
cp "$here/stage2.sh" "$work/stage2.sh"
chmod +x "$work/init" "$work/stage2.sh"

# Dependencies first, each module once (modules.dep lists a module's full dependency closure).
declare -A seen=()
order=()
add() {
  local line deps dep
  line=$(grep -E "(^|/)$1\.ko(\.xz|\.zst|\.gz)?:" "$modroot/modules.dep" || true)
  [ -z "$line" ] && return 0 # built in
  # modules.dep lists the whole dependency closure, deepest last: load it in reverse.
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
    add_path "${deps[i]}"
  done
  add_path "${line%%:*}"
}
add_path() {
  [ -n "${seen[$1]:-}" ] && return 0
  seen[$1]=1
  order+=("$1")
}
for m in virtio_pci virtio_pci_modern_dev virtio_ring virtio 9pnet 9pnet_virtio netfs 9p overlay; do
  add "$m"
done
for path in "${order[@]}"; do
  name=$(basename "$path")
  case "$name" in
    *.xz) xz -dc "$modroot/$path" >"$work/modules/${name%.xz}" ;;
    *.zst) zstd -qdc "$modroot/$path" >"$work/modules/${name%.zst}" ;;
    *.gz) gzip -dc "$modroot/$path" >"$work/modules/${name%.gz}" ;;
    *) cp "$modroot/$path" "$work/modules/$name" ;;
  esac
  echo "${name%.*}" | sed 's/\.ko$//' >>"$work/modules/order"
done
touch "$work/modules/order"
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
