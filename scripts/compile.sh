#!/usr/bin/env bash
# `deno task compile`: builds everything (scripts/build.sh), then compiles main.ts into the single
# binary dist/vigil, with the BPF objects and the native libraries embedded (they are imported as
# bytes, so `deno run` and the binary share one code path) and the permissions of the `vigil` task.
#
# `deno compile` copies a runtime binary, denort, and appends the program to it. It uses
# $DENORT_BIN when set, else a cached or downloaded denort of the same Deno version. Which one is
# usable is settled first, on a tiny program, so a missing denort is reported in one line before
# any build work and before Deno's own multi-line error could be the only message.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  printf 'compile: %s\n' "$*" >&2
  exit 1
}

deno_version="$(deno --version | awk 'NR == 1 { print $2 }')"
target="$(uname -m)-unknown-linux-gnu"
wanted="denort of Deno $deno_version for $target (from denort-$target.zip)"

if [[ -n "${DENORT_BIN:-}" && ! (-f "$DENORT_BIN" && -x "$DENORT_BIN") ]]; then
  die "DENORT_BIN=$DENORT_BIN is not an executable file; point it at the $wanted"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Preflight: compile and run a one-line program with the denort deno compile would use.
marker="vigil-denort-ok"
printf 'Deno.stdout.writeSync(new TextEncoder().encode("%s\\n"));\n' "$marker" >"$scratch/probe.ts"
if ! timeout 600 deno compile --quiet --no-config --no-lock --no-check \
  --output "$scratch/probe" "$scratch/probe.ts" 2>"$scratch/err"; then
  if [[ -n "${DENORT_BIN:-}" ]]; then
    die "deno compile rejected DENORT_BIN=$DENORT_BIN: $(grep -m1 -iE 'error|could not' "$scratch/err" || true)"
  fi
  if grep -qiE 'error sending request|dns error|connect|timed out|download' "$scratch/err" ||
    [[ ! -s "$scratch/err" ]]; then
    die "no denort runtime: DENORT_BIN is unset and the download of denort is unreachable from" \
      "this machine; set DENORT_BIN to a local $wanted"
  fi
  cat "$scratch/err" >&2
  die "deno compile failed on a one-line program (see above)"
fi
if [[ "$(timeout 60 "$scratch/probe" </dev/null 2>/dev/null || true)" != "$marker" ]]; then
  used="${DENORT_BIN:+DENORT_BIN=$DENORT_BIN}"
  die "${used:-the cached denort}: a program compiled with it does not run (it is not a denort," \
    "e.g. the deno CLI itself, or it is for another version); use the $wanted"
fi

bash scripts/build.sh

# The binary gets exactly the permissions `deno task vigil` runs with.
vigil_task="$(sed -n 's/^ *"vigil": *"\(.*\)",\{0,1\} *$/\1/p' deno.json)"
read -r -a permissions <<<"$(grep -oE -- '--allow-[a-z-]+(=[^ ]*)?' <<<"$vigil_task" | tr '\n' ' ')"
[[ ${#permissions[@]} -gt 0 ]] || die "could not read the permissions of the vigil task in deno.json"

mkdir -p dist
# The policy parser's worker is loaded by URL at run time: deno compile only embeds it when told.
deno compile "${permissions[@]}" --unstable-raw-imports --include src/policy/spec/parse_worker.ts \
  --output dist/vigil main.ts
printf 'compile: built dist/vigil (%s)\n' "$(dist/vigil version </dev/null)"
