/**
 * Free page reporting: a VM whose balloon device reports free guest pages to the hypervisor has
 * them discarded there, so every page the guest takes from its free lists again (page cache for
 * a file being written, after the last file was deleted) is faulted back in by the host. On this
 * machine a fresh 1.5 GB write ran at ~470 MB/s against ~5.5 GB/s on pages already backed (~8 µs
 * per 4 KiB page), and the ring bench's export writes took 1.5–1.9 s of each 5 s run instead of
 * 0.5–0.6 s. Bare-metal hosts have no such cost, so the export bench says when it is on and can
 * pause it for its runs.
 *
 * @module
 */

const ORDER_PARAM = "/sys/module/page_reporting/parameters/page_reporting_order";
const VIRTIO_DEVICES = "/sys/bus/virtio/devices";
const VIRTIO_ID_BALLOON = 0x5;
/** VIRTIO_BALLOON_F_REPORTING: the device takes free page reports. */
const F_REPORTING = 5;
/** Above any buddy order (x86-64's largest is 10): no free block is ever reported. */
const NEVER_ORDER = 11;

/** What this machine does with free pages. */
export interface PageReporting {
  /** A virtio balloon that takes free page reports is bound. */
  readonly active: boolean;
  /** The smallest free block order reported, when the kernel exposes it. */
  readonly order: number | undefined;
}

/** Reads whether free pages are reported to a hypervisor (sysfs; never throws). */
export function pageReporting(): PageReporting {
  return { active: balloonReports(), order: readOrder() };
}

/** One line for a bench header. */
export function pageReportingLine(p: PageReporting, paused: boolean): string {
  if (!p.active) return "free page reporting: none (no reporting virtio balloon)";
  const order = p.order === undefined ? "" : `, blocks of order >= ${p.order}`;
  return paused
    ? `free page reporting: paused for the runs (on otherwise${order}; restored at the end)`
    : `free page reporting: ON${order}: every page-cache page the export file takes is faulted ` +
      `in by the hypervisor, a cost bare-metal hosts do not have (--pause-page-reporting pauses ` +
      `it for the runs)`;
}

/**
 * Stops reporting until the returned function is called (it restores the previous order).
 * Throws with the reason when the parameter cannot be written (not root, no such parameter).
 */
export function pausePageReporting(): () => void {
  const before = readOrder();
  if (before === undefined) {
    throw new Error(`cannot pause free page reporting: ${ORDER_PARAM} is not readable`);
  }
  try {
    Deno.writeTextFileSync(ORDER_PARAM, `${NEVER_ORDER}\n`);
  } catch (err) {
    throw new Error(`cannot pause free page reporting: writing ${ORDER_PARAM}: ${err}`);
  }
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    Deno.writeTextFileSync(ORDER_PARAM, `${before}\n`);
  };
}

function readOrder(): number | undefined {
  try {
    const n = Number.parseInt(Deno.readTextFileSync(ORDER_PARAM).trim(), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function balloonReports(): boolean {
  try {
    for (const entry of Deno.readDirSync(VIRTIO_DEVICES)) {
      const dev = `${VIRTIO_DEVICES}/${entry.name}`;
      const id = Number.parseInt(Deno.readTextFileSync(`${dev}/device`).trim(), 16);
      if (id !== VIRTIO_ID_BALLOON) continue;
      // One character per feature bit, bit 0 first.
      if (Deno.readTextFileSync(`${dev}/features`)[F_REPORTING] === "1") return true;
    }
  } catch {
    // No virtio bus: not a VM with a balloon.
  }
  return false;
}
