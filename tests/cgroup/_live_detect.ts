/**
 * Run inside a test namespace: `deno run -A _live_detect.ts <use|enter-only|off>`. Calls the live
 * detector, then closes it, and prints one JSON line describing what happened, including whether
 * the private mount was still in this namespace's mount table after `close()`.
 *
 * @module
 */
import { HierarchyNotFoundError, openHostHierarchy } from "../../src/cgroup/host_hierarchy.ts";
import { printOut } from "../../src/cli/command.ts";

function mounted(dir: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
    l.split(" ")[4] === dir
  );
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const mode = (Deno.args[0] ?? "use") as "use" | "enter-only" | "off";
try {
  const h = openHostHierarchy({ hostView: mode });
  const before = mounted(h.mountpoint);
  h.close();
  printOut(JSON.stringify({
    ok: true,
    mountpoint: h.mountpoint,
    ownsMount: h.ownsMount,
    selector: h.selector,
    candidates: h.decision.candidates.map(({ mountpoint, root, accepted, reason, origin }) => ({
      mountpoint,
      root,
      accepted,
      reason,
      origin,
    })),
    mountedBeforeClose: before,
    mountedAfterClose: mounted(h.mountpoint),
    existsAfterClose: exists(h.mountpoint),
  }));
} catch (err) {
  if (!(err instanceof HierarchyNotFoundError)) throw err;
  const leftovers = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.includes("vigil-cgroup-"));
  printOut(JSON.stringify({
    ok: false,
    error: err.message,
    candidates: err.decision.candidates.map(({ mountpoint, root, accepted, reason, origin }) => ({
      mountpoint,
      root,
      accepted,
      reason,
      origin,
    })),
    leftoverPrivateMounts: leftovers,
  }));
}
