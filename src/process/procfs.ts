/**
 * What the kernel's task iterator cannot give cheaply for processes that predate the agent: the
 * executable, the arguments and the cwd, read from /proc once at start.
 *
 * @module
 */

/** Userspace view of one process from /proc. Fields are "" / [] when unreadable (exited, kthread). */
export interface ProcfsProcess {
  readonly binary: string;
  readonly argv: string[];
  readonly cwd: string;
  /** The pid in the process's own pid namespace (last `NSpid` of /proc/PID/status); 0 unknown. */
  readonly nsPid: number;
}

/** Reads process details; an interface so tests can feed fixtures. */
export interface ProcfsReader {
  read(pid: number): ProcfsProcess;
}

function readLink(path: string): string {
  try {
    // A deleted executable reads as "/path (deleted)"; the path is what matters.
    return Deno.readLinkSync(path).replace(/ \(deleted\)$/, "");
  } catch {
    return "";
  }
}

function readArgv(path: string): string[] {
  try {
    const text = Deno.readTextFileSync(path);
    if (text === "") return [];
    return text.replace(/\0$/, "").split("\0");
  } catch {
    return [];
  }
}

function readNsPid(path: string): number {
  try {
    const line = /^NSpid:\s*(.*)$/m.exec(Deno.readTextFileSync(path))?.[1];
    const last = line?.trim().split(/\s+/).pop();
    return last ? Number(last) : 0;
  } catch {
    return 0;
  }
}

/** Reads from a procfs mount (default /proc). */
export function createProcfsReader(root = "/proc"): ProcfsReader {
  return {
    read(pid) {
      return {
        binary: readLink(`${root}/${pid}/exe`),
        argv: readArgv(`${root}/${pid}/cmdline`),
        cwd: readLink(`${root}/${pid}/cwd`),
        nsPid: readNsPid(`${root}/${pid}/status`),
      };
    },
  };
}
