#!/usr/bin/env bash
# Installs vigil's build and test dependencies on Debian 12 (as root): Deno from the npm registry,
# clang/llvm/bpftool/libbpf/libelf/runc from Debian, and promtool (prometheus) for the metrics
# tests. Idempotent and quiet when already installed.
set -euo pipefail
DENO_VERSION=2.9.6
APT_PACKAGES=(clang llvm bpftool libbpf-dev libbpf1 libelf-dev zlib1g binutils runc containerd util-linux iproute2 prometheus)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v deno >/dev/null || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "setup: installing deno $DENO_VERSION from npm"
  npm install -g --silent "deno@$DENO_VERSION" >/dev/null
fi

# BPF links and tracefs-based probes want these mounted; they are on most hosts already.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
echo "setup: deno $(deno --version | head -1 | cut -d' ' -f2), $(clang --version | head -1)"
