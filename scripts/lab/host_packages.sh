#!/usr/bin/env bash
# Installs what the kernel lab needs on the host from Debian (as root): QEMU, a static busybox for
# the initramfs, cpio, xz, kmod (depmod). Quiet when everything is there.
set -euo pipefail
PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils kmod)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "lab: missing host packages ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 1
fi
echo "lab: installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
