#!/usr/bin/env bash
# Installs vigil on this host (or into a staging root):
#   BINARY                  -> ROOT/usr/local/bin/vigil          (0755)
#   deploy/vigil.service    -> ROOT/etc/systemd/system/vigil.service (0644)
#   policies/*.yaml         -> ROOT/etc/vigil/policies/          (0644; existing files are kept)
#   a new API token         -> ROOT/etc/vigil/api-token          (0600; an existing token is kept)
#   ROOT/var/log/vigil                                           (0750)
# Idempotent: running it again updates the binary and the unit and leaves the operator's policies
# and token alone. It never enables or starts the service; it prints the commands for that.
#
# Usage: scripts/install.sh [--root DIR] [--binary FILE] [--no-policies]
#   --root DIR      install under DIR instead of / (also: DESTDIR=DIR); for packaging and tests
#   --binary FILE   the vigil binary (default: dist/vigil, built by 'deno task compile')
#   --no-policies   do not install the example policies
set -euo pipefail

die() {
  printf 'install: %s\n' "$*" >&2
  exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${DESTDIR:-}"
binary="$repo/dist/vigil"
policies=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --root)
      [[ $# -ge 2 ]] || die "--root needs a directory"
      root="$2"
      shift 2
      ;;
    --root=*)
      root="${1#--root=}"
      shift
      ;;
    --binary)
      [[ $# -ge 2 ]] || die "--binary needs a file"
      binary="$2"
      shift 2
      ;;
    --binary=*)
      binary="${1#--binary=}"
      shift
      ;;
    --no-policies)
      policies=0
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

root="${root%/}"
[[ -f "$binary" && -x "$binary" ]] ||
  die "no executable vigil binary at $binary (run 'deno task compile', or pass --binary FILE)"
[[ -f "$repo/deploy/vigil.service" ]] || die "missing $repo/deploy/vigil.service"
if [[ -z "$root" && "$(id -u)" -ne 0 ]]; then
  die "installing into / needs root (or pass --root DIR to stage elsewhere)"
fi

# Copy to a temporary name, then rename: a running agent's binary is replaced, not overwritten.
install_file() { # mode src dst
  local tmp
  tmp="$(dirname "$3")/.$(basename "$3").install.$$"
  install -m "$1" "$2" "$tmp"
  mv -f "$tmp" "$3"
}

# Creates a directory with a mode; an existing one keeps the mode the operator gave it.
ensure_dir() { # mode dir
  [[ -d "$2" ]] || install -d -m "$1" "$2"
}

ensure_dir 0755 "$root/usr/local/bin"
ensure_dir 0755 "$root/etc/systemd/system"
ensure_dir 0755 "$root/etc/vigil"
ensure_dir 0755 "$root/etc/vigil/policies"
ensure_dir 0750 "$root/var/log/vigil"

install_file 0755 "$binary" "$root/usr/local/bin/vigil"
install_file 0644 "$repo/deploy/vigil.service" "$root/etc/systemd/system/vigil.service"
echo "installed $root/usr/local/bin/vigil and $root/etc/systemd/system/vigil.service"

if [[ "$policies" -eq 1 ]]; then
  shopt -s nullglob
  for policy in "$repo"/policies/*.yaml "$repo"/policies/*.yml; do
    target="$root/etc/vigil/policies/$(basename "$policy")"
    if [[ -e "$target" ]]; then
      echo "kept existing $target"
    else
      install -m 0644 "$policy" "$target"
      echo "installed $target"
    fi
  done
fi

token="$root/etc/vigil/api-token"
if [[ -e "$token" ]]; then
  chmod 0600 "$token"
  echo "kept existing token $token (mode 0600)"
else
  (
    umask 077
    # 256 random bits, base64url without padding, as the agent generates them.
    head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$token.tmp.$$"
    printf '\n' >>"$token.tmp.$$"
    mv -f "$token.tmp.$$" "$token"
  )
  echo "generated token $token (mode 0600)"
fi

if [[ -z "$root" ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  echo "next: systemctl enable --now vigil   (logs: journalctl -u vigil; events: /var/log/vigil/events.json)"
else
  echo "next (on the target host): systemctl daemon-reload && systemctl enable --now vigil"
fi
