#!/usr/bin/env bash
# Compiles bpf/*.bpf.c into bpf/out/*.bpf.o (CO-RE, against the pinned vmlinux.h).
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
command -v "$CLANG" >/dev/null || { echo "build_bpf: $CLANG not found (apt-get install clang llvm)" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build_bpf: libbpf headers missing (apt-get install libbpf-dev)" >&2; exit 1; }
# Start empty: an object whose source was renamed or removed must not linger (gen:abi reads every
# object in bpf/out, so a stale one would end up in the generated ABI).
rm -rf bpf/out
mkdir -p bpf/out
compile() {
  local src=$1 obj=$2
  shift 2
  "$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror "$@" \
    -I bpf/include -I bpf/include/vmlinux/"$ARCH" -I bpf \
    -c "$src" -o "$obj"
  # Strip DWARF (keep BTF): smaller embedded objects.
  llvm-strip -g "$obj" 2>/dev/null || true
}
for src in bpf/*.bpf.c; do
  compile "$src" "bpf/out/$(basename "${src%.c}").o"
done
# Kernels before 5.17 have no bpf_loop, and before 5.13 they refuse an object that merely
# references a loop callback (func_info counts it, their verifier does not): they get a build
# without those callbacks.
compile bpf/process.bpf.c bpf/out/process_no_loop.bpf.o -DVIGIL_NO_BPF_LOOP=1
echo "build_bpf: built $(ls bpf/out/*.o | wc -l) objects in bpf/out/"
