/**
 * A share of one CPU, as `--policy-cpu-budget` and the `vigil-cpu-budget` policy option write
 * it: `5%`, `0.5%`, `150%` (more than one CPU on a many-core host). Returned as a fraction of one
 * CPU (`5%` → 0.05).
 *
 * @module
 */

/** The widest budget accepted: 64 CPUs' worth (a larger number is a typo, not a budget). */
const MAX_PERCENT = 6400;

/** `5%` → 0.05; a string naming the problem when the text is not a share of a CPU. */
export function parseCpuShare(text: string): number | string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (m === null) return `${JSON.stringify(text)} is not a CPU share (write a percentage, e.g. 5%)`;
  const percent = Number(m[1]);
  if (!(percent > 0) || percent > MAX_PERCENT) {
    return `${JSON.stringify(text)}: a CPU share must be above 0% and at most ${MAX_PERCENT}%`;
  }
  return percent / 100;
}

/** 0.05 → `5%`. */
export function formatCpuShare(share: number): string {
  return `${Number((share * 100).toPrecision(3))}%`;
}
