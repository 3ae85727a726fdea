/**
 * The kernel-function programs: kprobe/kretprobe (`bpf/policy_kprobe.bpf.c`), fentry/fexit
 * (`bpf/policy_fentry.bpf.c`) and BPF LSM (`bpf/policy_lsm.bpf.c`). One kprobe program serves
 * every function (its attach slot as the cookie); fentry, fexit and LSM programs are bound to
 * their target at load, one copy per target with its attach slot in .rodata.
 *
 * @module
 */

import type { AttachPoint, EntryProgram } from "./types.ts";

function functionOf(at: AttachPoint, kinds: readonly string[]): string {
  if (!kinds.includes(at.kind) || !("function" in at)) {
    throw new Error(`this program cannot attach ${at.kind} (it attaches ${kinds.join(", ")})`);
  }
  return at.function;
}

/** Every program of policy_kprobe.bpf.o: a load names them all so only the chosen one loads. */
const KPROBE_NAMES = [
  "vigil_kprobe",
  "vigil_kretprobe",
  "vigil_kprobe_entry",
  "vigil_kprobe_multi",
] as const;

/**
 * kprobe and kretprobe. A kretprobe point also attaches vigil_kprobe_entry at the function's entry
 * with the same cookie: it stashes the arguments the return program reads (Tetragon's return
 * events carry the entry args).
 */
export const KPROBE_PROGRAM: EntryProgram = {
  object: "policy_kprobe.bpf.o",
  names: KPROBE_NAMES,
  copies: "shared",
  select(at) {
    functionOf(at, ["kprobe", "kretprobe"]);
    return at.kind === "kretprobe"
      ? { program: "vigil_kretprobe", companions: ["vigil_kprobe_entry"] }
      : { program: "vigil_kprobe" };
  },
  attachKey: (at) => functionOf(at, ["kprobe", "kretprobe"]),
  attach(object, program, at, cookie) {
    const fn = functionOf(at, ["kprobe", "kretprobe"]);
    if (program !== "vigil_kretprobe") return object.attachKprobe(program, fn, false, cookie);
    // Entry half first: a return without its stash posts with the args flagged unreadable.
    const entry = object.attachKprobe("vigil_kprobe_entry", fn, false, cookie);
    try {
      const ret = object.attachKprobe(program, fn, true, cookie);
      return {
        close() {
          ret.close();
          entry.close();
        },
      };
    } catch (err) {
      entry.close();
      throw err;
    }
  },
};

/**
 * kprobe_multi: the kprobe entry loaded as a kprobe_multi program. The engine attaches a group
 * (one link, every function's slot as its cookie) itself; `attach` here serves a lone function.
 */
export const KPROBE_MULTI_PROGRAM: EntryProgram = {
  object: "policy_kprobe.bpf.o",
  names: KPROBE_NAMES,
  copies: "shared",
  select(at) {
    functionOf(at, ["kprobe_multi"]);
    return { program: "vigil_kprobe_multi" };
  },
  attachKey: (at) => functionOf(at, ["kprobe_multi"]),
  attach: (object, program, at, cookie) =>
    object.attachKprobeMulti(program, [functionOf(at, ["kprobe_multi"])], [cookie]),
};

const TRAMPOLINES = ["fentry", "fexit", "fmod_ret"];

/**
 * fentry, fexit (sees the arguments and the return value) and fmod_ret (its return value can
 * replace the function's: Override on security_* functions).
 */
export const FENTRY_PROGRAM: EntryProgram = {
  object: "policy_fentry.bpf.o",
  names: ["vigil_fentry", "vigil_fexit", "vigil_fmod_ret"],
  copies: "per-target",
  select(at) {
    const fn = functionOf(at, TRAMPOLINES);
    if (at.kind === "fexit") return { program: "vigil_fexit", target: fn, returnOf: fn };
    return { program: at.kind === "fmod_ret" ? "vigil_fmod_ret" : "vigil_fentry", target: fn };
  },
  attachKey: (at) => functionOf(at, TRAMPOLINES),
  attach: (object, program) => object.attach(program),
};

/** BPF LSM: the program's return value is the hook's decision. */
export const LSM_PROGRAM: EntryProgram = {
  object: "policy_lsm.bpf.o",
  names: ["vigil_lsm"],
  copies: "per-target",
  select(at) {
    if (at.kind !== "lsm") throw new Error(`the LSM program cannot attach ${at.kind}`);
    return { program: "vigil_lsm", target: at.hook };
  },
  attachKey: (at) => at.kind === "lsm" ? at.hook : "",
  attach: (object, program) => object.attach(program),
};
