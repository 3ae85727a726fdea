#!/usr/bin/env bash
# Stages the host's libbpf and everything it links against (libelf, libz) into dist/native/ under
# their sonames, so src/ffi/native_libs.ts can import them as bytes and `deno compile` embeds them:
# the agent then runs on hosts without libbpf. Also writes dist/native/manifest.json (soname, source,
# sha256, size, highest GLIBC_x.y symbol version required); the maximum over all libraries is the
# oldest glibc the embedded copies work with. Installs nothing: a missing library or tool fails
# with one line naming the Debian package to install.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/native
multiarch="$(uname -m)-linux-gnu"

# soname -> Debian package that ships it. Order matters: dependencies first, as they are loaded.
sonames=(libz.so.1 libelf.so.1 libbpf.so.1)
declare -A package=([libz.so.1]=zlib1g [libelf.so.1]=libelf1 [libbpf.so.1]=libbpf1)
# DT_NEEDED entries allowed besides the staged libraries: glibc is the one thing taken from the host.
glibc_sonames=" libc.so.6 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 "

die() {
  printf 'stage_native_libs: %s\n' "$1" >&2
  exit 1
}

for tool in objdump readelf; do
  command -v "$tool" >/dev/null || die "$tool not found; install the Debian package binutils"
done
command -v sha256sum >/dev/null || die "sha256sum not found; install the Debian package coreutils"

# Where the dynamic linker would find a soname on this host (its cache, this architecture only).
find_lib() {
  # awk reads to the end: exiting at the first match would SIGPIPE ldconfig, and pipefail
  # would turn that into a failed build (seen as exit 141 in CI).
  ldconfig -p 2>/dev/null | awk -v so="$1" -v dir="/$multiarch/" \
    '!found && $1 == so && index($NF, dir) { print $NF; found = 1 }'
}

# Highest GLIBC_x.y symbol version a shared object requires ("" when it requires none).
glibc_floor() {
  objdump -T "$1" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/^GLIBC_//' | sort -uV | tail -n 1
}

json_str() {
  # Paths and versions here never hold quotes or backslashes; refuse rather than mis-escape.
  case "$1" in *[\"\\]*) die "unexpected character in '$1'" ;; esac
  printf '"%s"' "$1"
}

# Stage into a scratch directory and swap it in at the end: a failed run leaves no half-made set.
tmp="$out.tmp"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"

entries=()
floor=""
for soname in "${sonames[@]}"; do
  pkg="${package[$soname]}"
  link="$(find_lib "$soname")"
  [[ -n "$link" && -e "$link" ]] ||
    die "$soname not found on this build host; install the Debian package $pkg"
  source="$(readlink -f "$link")"

  # A new dependency in a future libbpf would otherwise only show up on a host that lacks it.
  while read -r needed; do
    [[ " ${sonames[*]} " == *" $needed "* || "$glibc_sonames" == *" $needed "* ]] ||
      die "$soname ($source) needs $needed, which is not staged; add it to scripts/stage_native_libs.sh"
  done < <(readelf -d "$source" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')

  cp "$source" "$tmp/$soname"
  sha="$(sha256sum "$tmp/$soname" | cut -d' ' -f1)"
  size="$(stat -c %s "$tmp/$soname")"
  glibc="$(glibc_floor "$source")"
  [[ -n "$glibc" ]] || die "no GLIBC symbol versions found in $source"
  floor="$(printf '%s\n%s\n' "$floor" "$glibc" | sed '/^$/d' | sort -V | tail -n 1)"
  version="$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)"

  entries+=("    {
      \"soname\": $(json_str "$soname"),
      \"package\": $(json_str "$pkg"),
      \"packageVersion\": $(json_str "$version"),
      \"source\": $(json_str "$source"),
      \"sha256\": $(json_str "$sha"),
      \"size\": $size,
      \"glibc\": $(json_str "$glibc")
    }")
done

{
  printf '{\n  "arch": %s,\n  "glibcFloor": %s,\n  "libs": [\n' \
    "$(json_str "$(uname -m)")" "$(json_str "$floor")"
  last=$((${#entries[@]} - 1))
  for i in "${!entries[@]}"; do
    printf '%s%s\n' "${entries[$i]}" "$([[ $i -lt $last ]] && printf ',')"
  done
  printf '  ]\n}\n'
} >"$tmp/manifest.json"
rm -rf "$out"
mv "$tmp" "$out"

printf 'stage_native_libs: staged %s into %s (needs glibc >= %s)\n' "${sonames[*]}" "$out" "$floor"
