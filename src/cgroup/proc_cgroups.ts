/**
 * Parser for `/proc/cgroups`, the kernel's table of cgroup controllers (cgroups(7)).
 *
 * The kernel prints one line per controller in `enum cgroup_subsys_id` order, so a line's
 * position is the controller's subsystem index (`ssid`), the index BPF uses for
 * `task->cgroups->subsys[ssid]`. Since Linux 6.11 controllers that cannot be used on v1 are left
 * out of the file (commit af000ce85293), which shifts later positions; the live detector
 * cross-checks with BTF (see `btf_subsys.ts`).
 *
 * @module
 */

/** One controller line of `/proc/cgroups`. */
export interface Subsystem {
  /** Controller name as v1 knows it, e.g. `memory`, `blkio`. */
  name: string;
  /** v1 hierarchy id the controller is bound to; 0 means the v2 (default) hierarchy or none. */
  hierarchyId: number;
  /** Number of cgroups in that hierarchy. */
  numCgroups: number;
  /** Whether the controller is enabled (not disabled with `cgroup_disable=`). */
  enabled: boolean;
  /** 0-based position among the controller lines: the kernel's subsystem index. */
  index: number;
}

/** `/proc/cgroups` text that does not follow the format; the message names the line. */
export class ProcCgroupsParseError extends Error {
  /** Always `"ProcCgroupsParseError"`. */
  override name = "ProcCgroupsParseError";
}

/**
 * Parses `/proc/cgroups`. The `#subsys_name ...` header is skipped; every other non-empty line
 * must have four whitespace-separated fields.
 *
 * @example
 * ```ts
 * const [cpuset] = parseProcCgroups("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\n");
 * cpuset.index; // 0
 * ```
 */
export function parseProcCgroups(text: string): Subsystem[] {
  const subsystems: Subsystem[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const [name, hierarchy, count, enabled] = fields;
    if (
      fields.length !== 4 || !name || !/^\d+$/.test(hierarchy ?? "") ||
      !/^\d+$/.test(count ?? "") || (enabled !== "0" && enabled !== "1")
    ) {
      throw new ProcCgroupsParseError(
        `/proc/cgroups line ${i + 1}: expected 'name hierarchy num_cgroups enabled', got '${line}'`,
      );
    }
    subsystems.push({
      name,
      hierarchyId: Number(hierarchy),
      numCgroups: Number(count),
      enabled: enabled === "1",
      index: subsystems.length,
    });
  }
  if (subsystems.length === 0) {
    throw new ProcCgroupsParseError("/proc/cgroups: no controller lines");
  }
  return subsystems;
}

/**
 * The controllers bound to v1 hierarchies (enabled and hierarchy id ≠ 0). An empty result means
 * every controller lives on the unified (v2) hierarchy.
 *
 * @example
 * ```ts
 * v1Controllers(parseProcCgroups("memory 4 10 1\npids 0 1 1\n")).map((s) => s.name); // ["memory"]
 * ```
 */
export function v1Controllers(subsystems: readonly Subsystem[]): Subsystem[] {
  return subsystems.filter((s) => s.enabled && s.hierarchyId !== 0);
}
