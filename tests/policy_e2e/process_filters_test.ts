/**
 * Real kernel, real processes: the process filters of a selector (matchBinaries, matchPIDs,
 * matchNamespaces, matchCapabilities). One agent runs one policy per filter; each policy hooks
 * getpriority with its own `which` marker, so only the test's calls reach its selector, and the
 * filter under test decides between two processes making the same call: one is counted as
 * filtered in the kernel, the other posts exactly one event.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  expectOneEvent,
  getprioritySpec,
  NR,
  nsInode,
  PERL,
  policy,
  run,
  runPerl,
  spawnWaiting,
  startPolicyAgent,
  syscallCode,
  type WaitingProcess,
} from "./_helpers.ts";

/** A selector: `filter` (YAML at 4 spaces, starting with "- ") and `which` Equal `marker`. */
function selector(filter: string, marker: number): string {
  return `${filter.replace(/^\n/, "").trimEnd()}
      matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
`;
}

const binaries = (op: string, value: string) =>
  `    - matchBinaries:
      - operator: ${op}
        values: ["${value}"]`;
const pids = (op: string, values: number[]) =>
  `    - matchPIDs:
      - operator: ${op}
        values: [${values.join(", ")}]`;
const namespaces = (op: string, inode: number) =>
  `    - matchNamespaces:
      - namespace: Mnt
        operator: ${op}
        values: ["${inode}"]`;
const capabilities = (op: string) =>
  `    - matchCapabilities:
      - type: Effective
        operator: ${op}
        values: ["CAP_SYS_ADMIN"]`;

/** Drops CAP_SYS_ADMIN from the bounding set, so the exec'd root process lacks it. */
const NO_SYS_ADMIN = ["setpriv", "--bounding-set=-sys_admin"];
/** A new mount namespace. */
const NEW_MNT_NS = ["unshare", "-m"];

const call = (marker: number) => syscallCode(NR.getpriority, marker, 0);

Deno.test({
  ...requires(
    "policy e2e: matchBinaries, matchPIDs, matchNamespaces, matchCapabilities",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    const tag = crypto.randomUUID().slice(0, 8);
    let copy = "";
    // Processes whose pids the pid policies name: started (waiting on stdin) before the agent.
    const waiting: Record<string, WaitingProcess> = {};
    await using _cleanup = {
      async [Symbol.asyncDispose]() {
        for (const w of Object.values(waiting)) await w[Symbol.asyncDispose]();
      },
    };
    const mntNs = nsInode("mnt");
    await using pa = await startPolicyAgent(async (w) => {
      await Deno.mkdir(`${w}/bin`);
      copy = `${w}/bin/perl-${tag}`;
      await Deno.copyFile(PERL, copy);
      await Deno.chmod(copy, 0o755);
      for (const [name, marker] of [["pidInHit", 7311], ["pidInMiss", 7311]] as const) {
        waiting[name] = spawnWaiting(call(marker));
      }
      for (const [name, marker] of [["pidNotInHit", 7312], ["pidNotInMiss", 7312]] as const) {
        waiting[name] = spawnWaiting(call(marker));
      }
      const spec = (filter: string, marker: number) => getprioritySpec(selector(filter, marker));
      return {
        "bin-in.yaml": policy("bin-in", spec(binaries("In", copy), 7301)),
        "bin-notin.yaml": policy("bin-notin", spec(binaries("NotIn", PERL), 7302)),
        "bin-prefix.yaml": policy("bin-prefix", spec(binaries("Prefix", `${w}/bin/`), 7303)),
        "bin-postfix.yaml": policy("bin-postfix", spec(binaries("Postfix", `/perl-${tag}`), 7304)),
        "bin-in-short.yaml": policy("bin-in-short", spec(binaries("In", PERL), 7305)),
        "pid-in.yaml": policy("pid-in", spec(pids("In", [waiting.pidInHit!.pid]), 7311)),
        "pid-notin.yaml": policy(
          "pid-notin",
          spec(pids("NotIn", [waiting.pidNotInMiss!.pid]), 7312),
        ),
        "ns-in.yaml": policy("ns-in", spec(namespaces("In", mntNs), 7321)),
        "ns-notin.yaml": policy("ns-notin", spec(namespaces("NotIn", mntNs), 7322)),
        "cap-in.yaml": policy("cap-in", spec(capabilities("In"), 7331)),
        "cap-notin.yaml": policy("cap-notin", spec(capabilities("NotIn"), 7332)),
      };
    });

    const all = await pa.policies();
    assert.deepEqual(
      all.filter((p) => p.state !== "enabled").map((p) => [p.name, p.reason]),
      [],
    );

    const bin = (name: string, marker: number) =>
      t.step(`${name}: ${copy} posts, ${PERL} is filtered`, async () => {
        await expectOneEvent(pa, name, {
          miss: () => runPerl(call(marker)),
          hit: () => runPerl(call(marker), { binary: copy }),
        }, (b) =>
          assert.deepEqual(b.args, [
            { int_arg: marker, label: "which" },
            { int_arg: 0, label: "who" },
          ]));
      });
    await bin("bin-in", 7301);
    await bin("bin-notin", 7302);
    await bin("bin-prefix", 7303);
    await bin("bin-postfix", 7304);

    // Regression: the binary recorded at exec kept bytes of a longer path exec'd earlier on the
    // same CPU after its NUL, so an exact (In/NotIn) lookup of a short path missed. Pinned to one
    // CPU, the long-named copy execs /usr/bin/perl: the second exec follows the first there.
    await t.step(`bin-in-short: In ${PERL}, exec'd right after a longer path`, async () => {
      const viaCopy = ["taskset", "-c", "0", copy, "-e", `exec("${PERL}", "-e", '${call(7305)}')`];
      await expectOneEvent(pa, "bin-in-short", {
        miss: () => runPerl(call(7305), { binary: copy }),
        hit: () => run(viaCopy[0]!, viaCopy.slice(1)),
      }, (b) => assert.equal(b.args[0].int_arg, 7305));
    });

    await t.step("pid-in: only the named pid posts", async () => {
      await expectOneEvent(pa, "pid-in", {
        miss: () => waiting.pidInMiss!.go(),
        hit: () => waiting.pidInHit!.go(),
      }, (b) => assert.equal(b.process.pid, waiting.pidInHit!.pid));
    });
    await t.step("pid-notin: the named pid is filtered, another posts", async () => {
      await expectOneEvent(pa, "pid-notin", {
        miss: () => waiting.pidNotInMiss!.go(),
        hit: () => waiting.pidNotInHit!.go(),
      }, (b) => assert.equal(b.process.pid, waiting.pidNotInHit!.pid));
    });

    await t.step(`ns-in: Mnt In ${mntNs} (the test's own); unshare -m is filtered`, async () => {
      await expectOneEvent(pa, "ns-in", {
        miss: () => runPerl(call(7321), { wrapper: NEW_MNT_NS }),
        hit: () => runPerl(call(7321)),
      }, (b) => assert.equal(b.args[0].int_arg, 7321));
    });
    await t.step("ns-notin: a process in a new mount namespace posts", async () => {
      await expectOneEvent(pa, "ns-notin", {
        miss: () => runPerl(call(7322)),
        hit: () => runPerl(call(7322), { wrapper: NEW_MNT_NS }),
      }, (b) => assert.equal(b.args[0].int_arg, 7322));
    });

    await t.step("cap-in: root with CAP_SYS_ADMIN posts; without it is filtered", async () => {
      await expectOneEvent(pa, "cap-in", {
        miss: () => runPerl(call(7331), { wrapper: NO_SYS_ADMIN }),
        hit: () => runPerl(call(7331)),
      }, (b) => assert.equal(b.args[0].int_arg, 7331));
    });
    await t.step("cap-notin: the process without CAP_SYS_ADMIN posts", async () => {
      await expectOneEvent(pa, "cap-notin", {
        miss: () => runPerl(call(7332)),
        hit: () => runPerl(call(7332), { wrapper: NO_SYS_ADMIN }),
      }, (b) => assert.equal(b.args[0].int_arg, 7332));
    });
  },
});
