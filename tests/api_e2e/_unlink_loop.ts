/**
 * A deterministic event generator for the API end-to-end tests and benchmarks: calls
 * `unlinkat(AT_FDCWD, "<prefix><seq>", 0)` through libc for seq = 1, 2, ... on paths that do not
 * exist. The syscall fails with ENOENT, but its `syscalls/sys_enter_unlinkat` tracepoint fires
 * first, so a policy hooking `sys_unlinkat` with a `Prefix` selector on the path posts one event
 * per call, each carrying its sequence number. No files, no forks: thousands of events a second
 * from one process.
 *
 * Run as its own process:
 *   deno run --allow-ffi --allow-read _unlink_loop.ts PREFIX RATE [COUNT] [STOPFILE]
 * RATE: calls per second (0 = as fast as possible). Stops after COUNT calls (0 = unbounded) or once
 * STOPFILE exists (checked every 10 ms), whichever comes first; then prints the last sequence
 * number and the seconds it ran, as `{"last":N,"seconds":S}`.
 *
 * @module
 */

const AT_FDCWD = -100;

if (import.meta.main) {
  const [prefix, rateText = "0", countText = "0", stopFile] = Deno.args;
  if (prefix === undefined) {
    throw new Error("usage: _unlink_loop.ts PREFIX RATE [COUNT] [STOPFILE]");
  }
  const rate = Number(rateText);
  const count = Number(countText);
  const lib = Deno.dlopen("libc.so.6", {
    unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  });
  const encoder = new TextEncoder();
  const started = performance.now();
  let seq = 0;
  let lastStopCheck = started;
  const stopped = (): boolean => {
    if (stopFile === undefined) return false;
    try {
      Deno.statSync(stopFile);
      return true;
    } catch {
      return false;
    }
  };
  outer: for (;;) {
    const now = performance.now();
    if (now - lastStopCheck >= 10) {
      lastStopCheck = now;
      if (stopped()) break;
    }
    // Due calls: pace to RATE per second; unpaced runs do 1000 calls between checks.
    const due = rate > 0 ? Math.floor(((now - started) / 1000) * rate) - seq : 1000;
    if (due <= 0) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    for (let i = 0; i < due; i++) {
      if (count > 0 && seq >= count) break outer;
      seq++;
      lib.symbols.unlinkat(AT_FDCWD, encoder.encode(`${prefix}${seq}\0`), 0);
    }
  }
  lib.close();
  const seconds = (performance.now() - started) / 1000;
  Deno.stdout.writeSync(encoder.encode(JSON.stringify({ last: seq, seconds }) + "\n"));
}
