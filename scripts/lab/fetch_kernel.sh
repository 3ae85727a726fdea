#!/usr/bin/env bash
# Fetches a stock Debian kernel for the lab into CACHE/<version>/ (vmlinuz, config, modules) and
# prints that directory. The package is resolved by name from the suite's archive through a private
# apt state (the host's sources stay untouched) and unpacked with dpkg-deb, never installed.
# Usage: fetch_kernel.sh VERSION CACHE   (VERSION: 5.10 | 6.1 | 6.12)
set -euo pipefail
version=$1
# apt resolves relative Dir:: paths against /etc/apt, so the cache must be absolute.
mkdir -p "$2"
cache=$(cd "$2" && pwd)
MIRROR=${VIGIL_LAB_MIRROR:-http://deb.debian.org/debian}
SECURITY=${VIGIL_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

case "$version" in
  5.10) suites=("$MIRROR bullseye" "$MIRROR bullseye-updates" "$SECURITY bullseye-security") ;;
  6.1) suites=("$MIRROR bookworm" "$MIRROR bookworm-updates" "$SECURITY bookworm-security") ;;
  6.12) suites=("$MIRROR bookworm-backports") ;;
  *) echo "lab: unknown kernel '$version' (choose 5.10, 6.1 or 6.12)" >&2; exit 2 ;;
esac

dir="$cache/$version"
if [ -f "$dir/ready" ]; then
  echo "$dir"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/sources.list.d"
for s in "${suites[@]}"; do
  echo "deb [signed-by=$KEYRING] ${s% *} ${s#* } main"
done >"$dir/apt/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$dir/apt/sources.list" -o "Dir::Etc::SourceParts=$dir/apt/sources.list.d"
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache"
  -o Dir::State::status=/dev/null -o APT::Sandbox::User=root
)
echo "lab: resolving the newest Debian $version kernel (${suites[*]})" >&2
apt-get "${apt_opts[@]}" -qq update >&2
# The metapackage of the suite names the exact image package (its newest ABI).
pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
  grep -E "^linux-image-${version//./\\.}[.-]" | sort -V | tail -1 || true)
if [ -z "$pkg" ]; then
  echo "lab: no linux-image-$version*-amd64 found in ${suites[*]}" >&2
  exit 1
fi
echo "lab: downloading $pkg" >&2
(cd "$dir" && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2 2>/dev/null ||
  apt-get "${apt_opts[@]}" -qq download "$pkg" >&2)
deb=$(ls "$dir"/linux-image-*.deb)
dpkg-deb -x "$deb" "$dir/root"
release=$(ls "$dir/root/lib/modules")
cp "$dir/root/boot/vmlinuz-$release" "$dir/vmlinuz"
cp "$dir/root/boot/config-$release" "$dir/config"
echo "$release" >"$dir/release"
depmod -b "$dir/root" "$release" 2>/dev/null || true
rm -rf "$dir/apt" "$deb"
touch "$dir/ready"
echo "$dir"
