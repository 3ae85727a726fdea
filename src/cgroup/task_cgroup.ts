/**
 * Parser for `/proc/<pid>/cgroup`: one `hierarchy-id:controllers:path` line per hierarchy the
 * task belongs to (cgroups(7)). Paths are relative to the reader's cgroup namespace, so they may
 * start with `/..`.
 *
 * @module
 */

/** One line of `/proc/<pid>/cgroup`. */
export interface TaskCgroup {
  /** v1 hierarchy id, or 0 for the unified (v2) hierarchy. */
  hierarchyId: number;
  /** Controllers of that hierarchy, e.g. `["cpu", "cpuacct"]` or `["name=systemd"]`; empty on v2. */
  controllers: string[];
  /** The task's cgroup in that hierarchy, as seen from the reader's cgroup namespace. */
  path: string;
}

/** `/proc/<pid>/cgroup` text that does not follow the format; the message names the line. */
export class TaskCgroupParseError extends Error {
  /** Always `"TaskCgroupParseError"`. */
  override name = "TaskCgroupParseError";
}

/**
 * Parses `/proc/<pid>/cgroup`. Only the first two colons separate fields: cgroup names may
 * contain colons (e.g. `kubepods-pod<uid>.slice:cri-containerd:<id>`).
 *
 * @example
 * ```ts
 * parseTaskCgroups("4:memory:/docker/abc\n0::/init.scope\n")[1]; // { hierarchyId: 0, controllers: [], path: "/init.scope" }
 * ```
 */
export function parseTaskCgroups(text: string): TaskCgroup[] {
  const result: TaskCgroup[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") continue;
    const first = line.indexOf(":");
    const second = first < 0 ? -1 : line.indexOf(":", first + 1);
    const id = line.slice(0, first);
    const path = line.slice(second + 1);
    if (second < 0 || !/^\d+$/.test(id) || !path.startsWith("/")) {
      throw new TaskCgroupParseError(
        `cgroup line ${i + 1}: expected 'hierarchy-id:controllers:/path', got '${line}'`,
      );
    }
    const list = line.slice(first + 1, second);
    result.push({
      hierarchyId: Number(id),
      controllers: list === "" ? [] : list.split(","),
      path,
    });
  }
  return result;
}

/**
 * Picks the line of one hierarchy: `controller` undefined selects the unified (v2) line
 * (`0::/...`), otherwise the v1 line listing that controller.
 *
 * @example
 * ```ts
 * const lines = parseTaskCgroups("4:memory:/a\n0::/b\n");
 * taskCgroupFor(lines, "memory")?.path; // "/a"
 * taskCgroupFor(lines)?.path; // "/b"
 * ```
 */
export function taskCgroupFor(
  lines: readonly TaskCgroup[],
  controller?: string,
): TaskCgroup | undefined {
  return controller === undefined
    ? lines.find((l) => l.hierarchyId === 0 && l.controllers.length === 0)
    : lines.find((l) => l.hierarchyId !== 0 && l.controllers.includes(controller));
}
