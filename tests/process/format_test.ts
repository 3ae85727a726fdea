import assert from "node:assert/strict";
import {
  bootEpochFromProcStat,
  BootTimeFormatter,
  bootTimeToRfc3339,
  measureBootEpochNs,
  quoteArg,
  shellQuoteArgs,
} from "../../src/process/format.ts";

Deno.test("shellQuoteArgs() leaves plain arguments alone", () => {
  assert.equal(shellQuoteArgs([]), "");
  assert.equal(shellQuoteArgs(["-la", "/tmp", "--color=auto"]), "-la /tmp --color=auto");
});

Deno.test("shellQuoteArgs() quotes arguments with spaces and quotes", () => {
  assert.equal(shellQuoteArgs(["-c", "echo hi; exit 3"]), '-c "echo hi; exit 3"');
  assert.equal(shellQuoteArgs(['say "x"']), '"say \\"x\\""');
  assert.equal(shellQuoteArgs(["it's"]), `"it's"`);
  assert.equal(shellQuoteArgs(["a\\b"]), '"a\\\\b"');
  assert.equal(shellQuoteArgs(["", "x"]), '"" x');
});

Deno.test("quoteArg() escapes control characters", () => {
  assert.equal(quoteArg("a\nb\tc\rd"), '"a\\nb\\tc\\rd"');
  assert.equal(quoteArg("\x01\x7f"), '"\\x01\\x7f"');
  assert.equal(quoteArg("日本"), "日本");
});

Deno.test("bootTimeToRfc3339() adds the boot epoch and prints 9 fractional digits", () => {
  const epoch = 1_700_000_000n * 1_000_000_000n; // 2023-11-14T22:13:20Z
  assert.equal(bootTimeToRfc3339(0n, epoch), "2023-11-14T22:13:20.000000000Z");
  assert.equal(bootTimeToRfc3339(5n, epoch), "2023-11-14T22:13:20.000000005Z");
  assert.equal(bootTimeToRfc3339(1_500_000_001n, epoch), "2023-11-14T22:13:21.500000001Z");
  assert.equal(bootTimeToRfc3339(86_400_999_999_999n, epoch), "2023-11-15T22:13:20.999999999Z");
  assert.equal(bootTimeToRfc3339(-1n, 0n), "1969-12-31T23:59:59.999999999Z");
});

Deno.test("BootTimeFormatter.format() equals bootTimeToRfc3339() across seconds", () => {
  const epoch = 1_795_323_995_877_431_557n;
  const clock = new BootTimeFormatter(epoch);
  let k = 16_817_705_012_542n;
  for (let i = 0; i < 5000; i++) {
    k += BigInt(Math.floor(Math.random() * 5_000_000));
    assert.equal(clock.format(k), bootTimeToRfc3339(k, epoch));
  }
  assert.equal(clock.format(0n), bootTimeToRfc3339(0n, epoch));
});

Deno.test("BootTimeFormatter.format() is exact at second edges and past 2^53 ns of uptime", () => {
  // Written out with bigints and Date, independently of the formatter's number path.
  const expected = (wall: bigint) => {
    const sec = wall / 1_000_000_000n;
    const frac = wall - sec * 1_000_000_000n;
    return new Date(Number(sec) * 1000).toISOString().slice(0, 19) + "." +
      frac.toString().padStart(9, "0") + "Z";
  };
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  for (const epoch of [1_795_323_995_000_000_000n, 1_795_323_995_999_999_999n]) {
    const clock = new BootTimeFormatter(epoch);
    const edges = [0n, 1n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, 86_400_999_999_999n];
    const big = [safe - 1_000_000_001n, safe - 1_000_000_000n, safe, safe + 1n, 2n ** 62n + 7n];
    for (const k of [...edges, ...big]) {
      assert.equal(clock.format(k), expected(epoch + k), `ktime ${k}, epoch ${epoch}`);
    }
  }
});

Deno.test("measureBootEpochNs() agrees with /proc/stat btime and /proc/uptime", () => {
  const epoch = measureBootEpochNs();
  const btime = bootEpochFromProcStat();
  const diffSec = Number(epoch - btime) / 1e9;
  assert.ok(diffSec > -2 && diffSec < 3, `boot epoch ${epoch} vs btime ${btime}`);
  // CLOCK_BOOTTIME now ≈ /proc/uptime; converted to wall time it must be about now.
  const uptimeSec = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  const wall = Date.parse(bootTimeToRfc3339(BigInt(Math.round(uptimeSec * 1e9)), epoch));
  assert.ok(Math.abs(wall - Date.now()) < 1000, `uptime → ${new Date(wall).toISOString()}`);
});

Deno.test("bootEpochFromProcStat() reads btime", () => {
  assert.equal(bootEpochFromProcStat("cpu 1 2\nbtime 1700000000\n"), 1_700_000_000_000_000_000n);
  assert.throws(() => bootEpochFromProcStat("cpu 1 2\n"), /btime/);
});
