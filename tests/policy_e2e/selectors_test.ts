/**
 * Real kernel, real process trees: the selectors that look past the calling process —
 * matchPIDs with followForks (descendants of a listed pid, also by namespace pid), several
 * matchPIDs entries ANDed, matchBinaries with followChildren (descendants of a listed binary)
 * and matchParentBinaries — plus matchCapabilities with isNamespaceCapability (a new user
 * namespace), NotifyEnforcer's signal and matchReturnArgs. Each lineage policy hooks getpriority
 * with its own `which` marker; the caller prints its pid, and a process outside the lineage (or
 * namespace) makes the same call and must be filtered in the kernel. The return-value policies
 * hook getpgid in their own binary: the call that fails with ESRCH posts, the one that succeeds
 * is filtered, whatever mechanism the kernel gives (fexit or kretprobe with the entry args in one
 * program; the syscall's exit tracepoint where functions cannot be hooked). One agent runs them
 * all: in the emulated lab each agent start costs most of a minute.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  bodyOf,
  expectOneEvent,
  getprioritySpec,
  NR,
  PERL,
  perlString,
  policy,
  type Ran,
  run,
  spawnWaiting,
  startPolicyAgent,
  syscallCode,
  type WaitingProcess,
} from "./_helpers.ts";

const call = (marker: number) => syscallCode(NR.getpriority, marker, 0);

/** Perl code: the process prints its pid, then makes the call. */
const leaf = (marker: number) => `$| = 1; print $$; ${call(marker)}`;

/** Perl code: fork `depth` times, the last child runs `code` (each parent waits). */
function forked(depth: number, code: string): string {
  let body = code;
  for (let i = 0; i < depth; i++) {
    body = `my $p${i} = fork(); if (!$p${i}) { ${body} exit 0; } waitpid($p${i}, 0);`;
  }
  return body;
}

/** Perl code: run `binary -e code` as a child process (exec'd, so its binary is `binary`). */
const spawnChild = (binary: string, code: string) =>
  `system(${perlString(binary)}, "-e", ${perlString(code)});`;

/** The Ran of a tree whose caller printed its pid: the event must carry that pid. */
function callerOf(ran: Ran): Ran {
  const pid = Number(ran.stdout.trim());
  assert.ok(Number.isSafeInteger(pid) && pid > 0, `no caller pid in ${JSON.stringify(ran)}`);
  return { ...ran, pid };
}

const selector = (filter: string, marker: number) =>
  `${filter.replace(/^\n/, "").trimEnd()}
      matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
`;

Deno.test({
  ...requires(
    "policy e2e: followForks, matchPIDs entries, followChildren, matchParentBinaries, userns caps, NotifyEnforcer, matchReturnArgs",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    const tag = crypto.randomUUID().slice(0, 8);
    let copy = "";
    const retCopies: Record<string, string> = {};
    const waiting: Record<string, WaitingProcess> = {};
    await using _cleanup = {
      async [Symbol.asyncDispose]() {
        for (const w of Object.values(waiting)) await w[Symbol.asyncDispose]();
      },
    };
    await using pa = await startPolicyAgent(async (w) => {
      copy = `${w}/perl-${tag}`;
      await Deno.copyFile(PERL, copy);
      await Deno.chmod(copy, 0o755);
      for (const name of ["ret-eq", "ret-lt"]) {
        retCopies[name] = `${w}/perl-${name}-${tag}`;
        await Deno.copyFile(PERL, retCopies[name]!);
        await Deno.chmod(retCopies[name]!, 0o755);
      }
      // The listed pids: started before the agent, they fork their callers when told to.
      waiting.follow = spawnWaiting(forked(2, leaf(7401)));
      waiting.entries = spawnWaiting(`${call(7402)} ${forked(1, leaf(7402))}`);
      const spec = (filter: string, marker: number) => getprioritySpec(selector(filter, marker));
      return {
        "pid-follow.yaml": policy(
          "pid-follow",
          spec(
            `    - matchPIDs:
      - operator: In
        followForks: true
        values: [${waiting.follow.pid}]`,
            7401,
          ),
        ),
        // The listed process itself is excluded by the second entry; its children match.
        "pid-entries.yaml": policy(
          "pid-entries",
          spec(
            `    - matchPIDs:
      - operator: In
        followForks: true
        values: [${waiting.entries.pid}]
      - operator: NotIn
        values: [${waiting.entries.pid}]`,
            7402,
          ),
        ),
        // Namespace pid 2: the first child of a process that is pid 1 of a new pid namespace.
        "pid-ns-follow.yaml": policy(
          "pid-ns-follow",
          spec(
            `    - matchPIDs:
      - operator: In
        followForks: true
        isNamespacePID: true
        values: [2]`,
            7403,
          ),
        ),
        "bin-children.yaml": policy(
          "bin-children",
          spec(
            `    - matchBinaries:
      - operator: In
        followChildren: true
        values: ["${copy}"]`,
            7404,
          ),
        ),
        "userns-cap.yaml": policy(
          "userns-cap",
          spec(
            `    - matchCapabilities:
      - operator: In
        isNamespaceCapability: true
        values: [CAP_SYS_ADMIN]`,
            7406,
          ),
        ),
        // Tetragon's enforcer example: the signal reaches the caller, the event says so.
        "notify.yaml": policy(
          "notify",
          `  enforcers:
  - calls: [sys_getpriority]
${
            getprioritySpec(`    - matchArgs:
      - index: 0
        operator: Equal
        values: ["7407"]
      - index: 1
        operator: Equal
        values: ["1"]
      matchActions:
      - action: NotifyEnforcer
        argSig: 9`)
          }`,
        ),
        "parent-bin.yaml": policy(
          "parent-bin",
          spec(
            `    - matchParentBinaries:
      - operator: In
        values: ["${copy}"]`,
            7405,
          ),
        ),
        "ret-eq.yaml": policy("ret-eq", getpgidSpec(retCopies["ret-eq"]!, "Equal", "-3")),
        "ret-lt.yaml": policy("ret-lt", getpgidSpec(retCopies["ret-lt"]!, "LT", "0")),
      };
    });

    const all = await pa.policies();
    assert.deepEqual(
      all.filter((p) => p.state !== "enabled").map((p) => [p.name, p.reason]),
      [],
    );

    await t.step(
      "followForks: a grandchild of the listed pid posts, an unrelated one not",
      async () => {
        await expectOneEvent(pa, "pid-follow", {
          miss: async () => callerOf(await run(PERL, ["-e", forked(2, leaf(7401))])),
          hit: async () => callerOf(await waiting.follow!.go()),
        }, (b) => assert.equal(b.args[0].int_arg, 7401));
      },
    );

    await t.step(
      "two matchPIDs entries ANDed: the listed pid is out, its child is in",
      async () => {
        // go() makes the listed process call first (the miss), then its child (the hit).
        const c0 = await pa.counters("pid-entries");
        const ran = callerOf(await waiting.entries!.go());
        const c1 = await pa.counters("pid-entries");
        assert.equal(c1.filtered - c0.filtered, 1, JSON.stringify([c0, c1]));
        assert.equal(c1.posted - c0.posted, 1, JSON.stringify([c0, c1]));
        await pa.waitForPolicyEvents("pid-entries", (b) => b.process?.pid === ran.pid);
        assert.deepEqual(pa.eventsOf("pid-entries").map((e) => bodyOf(e).process?.pid), [ran.pid]);
      },
    );

    await t.step(
      "followForks + isNamespacePID: below namespace pid 2 posts, the host not",
      async () => {
        // unshare -pf: perl is pid 1 of a new namespace; its child is pid 2, whose child calls.
        const inNs = forked(2, leaf(7403));
        await expectOneEvent(pa, "pid-ns-follow", {
          miss: async () => callerOf(await run(PERL, ["-e", forked(2, leaf(7403))])),
          // The printed $$ is the namespace pid: the event carries the host pid, found by the leaf
          // printing the host pid from /proc/self (readlink of /proc/self names the namespace one).
          hit: async () => {
            const ran = await run("unshare", ["-p", "-f", PERL, "-e", hostPidLeaf(inNs, 7403)]);
            return callerOf(ran);
          },
        }, (b) => assert.equal(b.args[0].int_arg, 7403));
      },
    );

    await t.step(`followChildren: ${PERL} exec'd by ${copy} posts, run alone not`, async () => {
      await expectOneEvent(pa, "bin-children", {
        miss: async () => callerOf(await run(PERL, ["-e", leaf(7404)])),
        hit: async () => callerOf(await run(copy, ["-e", spawnChild(PERL, leaf(7404))])),
      }, (b) => {
        assert.equal(b.args[0].int_arg, 7404);
        assert.equal(b.process.binary, PERL);
      });
    });

    await t.step(
      "isNamespaceCapability: root of a new user namespace posts, host root not",
      async () => {
        await expectOneEvent(pa, "userns-cap", {
          miss: async () => callerOf(await run(PERL, ["-e", leaf(7406)])),
          hit: async () => callerOf(await run("unshare", ["-U", "-r", PERL, "-e", leaf(7406)])),
        }, (b) => assert.equal(b.args[0].int_arg, 7406));
      },
    );

    await t.step(
      "NotifyEnforcer argSig 9: the caller is killed, the event names the action",
      async () => {
        await expectOneEvent(pa, "notify", {
          miss: () => run(PERL, ["-e", `$| = 1; ${syscallCode(NR.getpriority, 7407, 0)}`]),
          hit: () => run(PERL, ["-e", `${syscallCode(NR.getpriority, 7407, 1)} print "alive";`]),
          hitEnded: (r) => {
            assert.equal(r.signal, "SIGKILL", JSON.stringify(r));
            assert.equal(r.stdout, "", "the caller went on after the signal");
          },
        }, (b) => assert.equal(b.action, "KPROBE_ACTION_NOTIFYENFORCER"));
      },
    );

    await t.step(`matchParentBinaries: a child of ${copy} posts, its grandchild not`, async () => {
      await expectOneEvent(pa, "parent-bin", {
        miss: async () =>
          callerOf(await run(copy, ["-e", spawnChild(PERL, spawnChild(PERL, leaf(7405)))])),
        hit: async () => callerOf(await run(copy, ["-e", spawnChild(PERL, leaf(7405))])),
      }, (b) => {
        assert.equal(b.args[0].int_arg, 7405);
        assert.equal(b.parent?.binary, copy);
      });
    });

    const hooks = (await pa.status("ret-eq")).hooks;
    const mechanism = hooks.map((h) => h.mechanism).join(", ");
    const split = mechanism.includes("syscall_tracepoint");
    for (const [name, op] of [["ret-eq", "Equal -3"], ["ret-lt", "LT 0"]] as const) {
      const binary = retCopies[name]!;
      await t.step(
        `${name} (${op}) via ${mechanism}: ESRCH posts, success is filtered`,
        async () => {
          await expectOneEvent(pa, name, {
            miss: () => run(binary, ["-e", syscallCode(NR.getpgid, 0)]),
            hit: () => run(binary, ["-e", syscallCode(NR.getpgid, NO_SUCH_PID)]),
          }, (b) => {
            // Split at the exit tracepoint, the event is the exit's: the entry args are gone.
            if (split) assert.equal(b.args, undefined, JSON.stringify(b));
            else assert.deepEqual(b.args, [{ int_arg: NO_SUCH_PID, label: "pid" }]);
            assert.equal(b.return?.int_arg, -3, JSON.stringify(b));
          });
        },
      );
    }
  },
});

/** A pid nobody has: getpgid fails with ESRCH (-3). */
const NO_SUCH_PID = 3_999_923;

/** getpgid with its return value, in `binary` only, filtered by `operator value` on the return. */
const getpgidSpec = (binary: string, operator: string, value: string) =>
  `  kprobes:
  - call: sys_getpgid
    syscall: true
    return: true
    args:
    - index: 0
      type: int
      label: pid
    returnArg:
      index: 0
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: ["${binary}"]
      matchReturnArgs:
      - index: 0
        operator: ${operator}
        values: ["${value}"]
`;

/**
 * Perl code run as pid 1 of a new pid namespace: `code` with its leaf printing the host pid
 * (the `NSpid:` line of /proc/self/status lists the host pid first) instead of `$$`.
 */
function hostPidLeaf(code: string, marker: number): string {
  const hostPid = `open(my $s, "<", "/proc/self/status"); ` +
    `while (<$s>) { if (/^NSpid:\\s+(\\d+)/) { print $1; } }`;
  return code.replace(leaf(marker), `$| = 1; ${hostPid} ${call(marker)}`);
}
