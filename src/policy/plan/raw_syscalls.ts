/**
 * The raw_syscalls rewrite. A hook on `raw_syscalls/sys_enter` (or `sys_exit`) runs its program on
 * every syscall of every task; when every selector restricts the syscall id to a set (a positive
 * `InMap`, `Equal` or `InRange` on the `id` field), the hook is split into one hook per syscall of
 * the union of those sets, on that syscall's own tracepoint, with the id filters removed and each
 * selector kept only where its set contains the syscall. First-match order is kept, so the events
 * are the ones the hook as written would post.
 *
 * Refused, with the reason, when a selector has no positive id filter (no selectors at all,
 * `NotInMap`/`NotEqual` alone, or a filter on other fields only: any syscall could match), when
 * the id is compared otherwise (GT, LT, Mask), when an arg reads a field the per-syscall
 * tracepoints lack (`args`), or when a syscall of the set has no tracepoint here.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { syscallByNumber } from "../vocab/mod.ts";
import type { TracepointField, TracepointFormat } from "./tracepoint_format.ts";
import type { PlannedHook } from "./types.ts";
import type { ArgFilter, HookArg, Selector, SyscallRef, TracepointHook } from "../spec/mod.ts";
import { eventOf, type PlanEnv } from "./hook.ts";
import { IssueSink } from "./issues.ts";
import { option, syscallTracepointCost } from "./mechanism.ts";
import { tracepointHook } from "./tp_hook.ts";

/** Most per-syscall hooks one split may create. */
export const MAX_SPLIT_SYSCALLS = 64;
/** Widest InRange/InMap range over syscall ids that is expanded. */
const MAX_ID_RANGE = 1024n;

/** The result of {@link rewriteRawSyscalls}: the hooks, or why the hook stays as written. */
export type SplitResult =
  | { readonly hooks: PlannedHook[]; readonly refused?: undefined }
  | { readonly hooks?: undefined; readonly refused: string };

/** Whether a hook is on `raw_syscalls/sys_enter` or `raw_syscalls/sys_exit` (not `raw: true`). */
export function isRawSyscalls(hook: TracepointHook): boolean {
  return !hook.raw && hook.subsystem === "raw_syscalls" &&
    (hook.event === "sys_enter" || hook.event === "sys_exit");
}

const POSITIVE = new Set(["Equal", "InMap", "InRange"]);
const NEGATIVE = new Set(["NotEqual", "NotInMap", "NotInRange"]);

/** The ids one filter lists, or why they cannot be listed. */
function filterIds(f: ArgFilter): bigint[] | string {
  const m = f.match;
  const out: bigint[] = [];
  const ranges: (readonly [bigint, bigint])[] = [];
  if (m.kind === "integers") out.push(...m.values);
  else if (m.kind === "unresolved") {
    for (const v of m.values) {
      if (!/^-?\d+$/.test(v)) return `Equal value ${JSON.stringify(v)} is not a syscall number`;
      out.push(BigInt(v));
    }
  } else if (m.kind === "inMap") {
    out.push(...m.values);
    for (const l of m.lists) out.push(...l.ids.map(BigInt));
    ranges.push(...m.ranges);
  } else if (m.kind === "ranges") ranges.push(...m.ranges);
  else return `${f.operator} values are not syscall numbers`;
  for (const [lo, hi] of ranges) {
    if (hi - lo >= MAX_ID_RANGE) return `range ${lo}:${hi} of syscall ids is too wide to split`;
    for (let v = lo; v <= hi; v++) out.push(v);
  }
  return out;
}

/** The syscall ids selector `i` can match, or why they are not a known set. */
function selectorIds(
  sel: Selector,
  i: number,
  idPositions: ReadonlySet<number>,
): Set<bigint> | string {
  let positive: Set<bigint> | undefined;
  const negative: bigint[] = [];
  for (const f of sel.matchArgs) {
    if (!idPositions.has(f.argPos)) continue;
    if (!POSITIVE.has(f.operator) && !NEGATIVE.has(f.operator)) {
      return `selector ${i} compares the syscall id with ${f.operator}, which a per-syscall split ` +
        `cannot express exactly`;
    }
    const ids = filterIds(f);
    if (typeof ids === "string") return `selector ${i}: ${ids}`;
    if (NEGATIVE.has(f.operator)) {
      negative.push(...ids);
    } else {
      const set = new Set(ids);
      positive = positive === undefined ? set : new Set([...positive].filter((v) => set.has(v)));
    }
  }
  if (positive === undefined) {
    return `selector ${i} does not restrict the syscall id to a set (no InMap, Equal or InRange on ` +
      `it${
        negative.length > 0 ? "; NotInMap/NotEqual alone lets every other syscall through" : ""
      }), so ` +
      `it can match any syscall`;
  }
  for (const v of negative) positive.delete(v);
  return positive;
}

/** The per-syscall tracepoint field an arg of the raw tracepoint maps to. */
function mapField(raw: TracepointFormat, arg: HookArg): string | undefined {
  const field = raw.fields[arg.index];
  if (field === undefined) return undefined;
  if (field.name === "id") return "__syscall_nr";
  if (field.name === "ret" || field.name.startsWith("common_")) return field.name;
  return undefined;
}

interface Target {
  readonly ref: SyscallRef;
  readonly format: TracepointFormat;
}

/** Splits a raw_syscalls hook (see the module doc); `raw` is the format of the raw tracepoint. */
export function rewriteRawSyscalls(
  hook: TracepointHook,
  index: number,
  env: PlanEnv,
  raw: TracepointFormat,
): SplitResult {
  const key = `raw_syscalls/${hook.event}`;
  if (hook.selectors.length === 0) {
    return { refused: "it has no selectors, so every syscall is posted" };
  }
  const idPositions = new Set<number>();
  for (const [pos, a] of hook.args.entries()) {
    const mapped = mapField(raw, a);
    if (mapped === undefined) {
      return {
        refused: `args[${pos}] reads field ${
          JSON.stringify(raw.fields[a.index]?.name ?? `#${a.index}`)
        } of ${key}, which the per-syscall tracepoints do not have`,
      };
    }
    if (mapped === "__syscall_nr") idPositions.add(pos);
  }
  if (idPositions.size === 0) {
    return {
      refused: `no arg reads the syscall id (field ${
        raw.fields.findIndex((f) => f.name === "id")
      }, "id"), so no selector restricts it`,
    };
  }
  const sets: Set<bigint>[] = [];
  for (const [i, sel] of hook.selectors.entries()) {
    const ids = selectorIds(sel, i, idPositions);
    if (typeof ids === "string") return { refused: ids };
    sets.push(ids);
  }
  const union = [...new Set(sets.flatMap((s) => [...s]))].sort((a, b) => (a < b ? -1 : 1));
  if (union.length === 0) {
    return { refused: "its selectors match no syscall id at all, so it never posts: remove it" };
  }
  if (union.length > MAX_SPLIT_SYSCALLS) {
    return {
      refused: `its selectors allow ${union.length} syscalls; vigil splits at most ` +
        `${MAX_SPLIT_SYSCALLS} (each is one attached program)`,
    };
  }
  const targets: Target[] = [];
  for (const nr of union) {
    const ref = nr >= 0n && nr <= 0xffffn ? syscallByNumber(Number(nr)) : undefined;
    if (ref === undefined) {
      return { refused: `syscall id ${nr} is not an x86_64 syscall in vigil's table` };
    }
    const r = env.facts.tracepointFormat("syscalls", `${hook.event}_${ref.entry}`);
    if (r.format === undefined) {
      return { refused: `syscall ${ref.name} (${nr}) has no tracepoint to split onto: ${r.error}` };
    }
    targets.push({ ref, format: r.format });
  }
  const names = targets.map((t) => t.ref.name).join(", ");
  const why = `split from ${key}: every selector restricts the syscall id (InMap/Equal/InRange) ` +
    `to {${names}}, so each of these syscalls gets its own tracepoint with the id filter removed, ` +
    `and no other syscall runs the program (32-bit compat syscalls, which raw_syscalls reports ` +
    `with their i386 numbers, are not seen by syscall tracepoints)`;
  const event = eventOf(env, hook, {
    kind: "process_tracepoint",
    subsys: hook.subsystem,
    event: hook.event,
  });
  const hooks = targets.map(({ ref, format }) => {
    const nr = BigInt(ref.nr);
    const keep = hook.selectors.flatMap((s, i) => sets[i]?.has(nr) ? [{ s, i }] : []);
    const fieldFor = (a: HookArg): TracepointField | string => {
      const name = mapField(raw, a) ?? "";
      return format.fields.find((f) => f.name === name) ??
        `syscalls/${format.event} has no field "${name}"`;
    };
    return tracepointHook({
      hook,
      env,
      sink: new IssueSink(env.policy.file),
      format,
      fieldFor,
      selectors: keep.map(({ s }) => ({
        ...s,
        matchArgs: s.matchArgs.filter((f) => !idPositions.has(f.argPos)),
      })),
      selectorIndexes: keep.map(({ i }) => i),
      name: `tracepoints[${index}] ${key} → syscalls/${format.event}`,
      source: { list: "tracepoints", index, at: hook.at, target: ref.name, role: "entry" },
      mechanism: "syscall_tracepoint",
      options: [option(env.facts, "syscall_tracepoint"), option(env.facts, "tracepoint")],
      why,
      cost: syscallTracepointCost(ref.name),
      event,
      rewrittenFrom: key,
    });
  });
  return { hooks };
}
