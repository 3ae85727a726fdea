/**
 * One factor for every wait of the real-kernel tests (agent ready, event polls, settle pauses).
 * The kernel lab sets `VIGIL_TEST_TIME_SCALE` (user space runs 10–100x slower under emulation),
 * so the same tests pass in a guest without being weakened on the host, where it is 1.
 *
 * @module
 */

function readScale(): number {
  const raw = Deno.env.get("VIGIL_TEST_TIME_SCALE");
  if (raw === undefined || raw === "") return 1;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 1) {
    throw new Error(`VIGIL_TEST_TIME_SCALE='${raw}': expected a number >= 1`);
  }
  return value;
}

/** The factor (1 on the host; the lab sets more). */
export const TIME_SCALE: number = readScale();

/** `ms` stretched by {@link TIME_SCALE}. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
