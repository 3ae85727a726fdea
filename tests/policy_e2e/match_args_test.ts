/**
 * Real kernel, real processes: every matchArgs operator family. One agent runs one policy per
 * operator (so each has its own kernel counters); for each, a process makes the non-matching call
 * (no event, counted as filtered in the kernel) and then the matching one (exactly one event with
 * the right typed args: string_arg, int_arg, long_arg, file_arg for an fd, sockaddr_arg).
 *
 * Strings: unlinkat(2) of paths under the test's own temp dir (nothing is created or removed).
 * Integers: getpriority(which, who) with a `which` no program uses, `who` under test.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  AT_FDCWD,
  expectOneEvent,
  type ExportedEvent,
  getprioritySpec,
  NR,
  perlString,
  policy,
  type Ran,
  runPerl,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";

/** An unlinkat hook with its three args and `selectors`. */
function unlinkatSpec(selectors: string): string {
  return `  kprobes:
  - call: sys_unlinkat
    syscall: true
    args:
    - index: 0
      type: int
      label: dirfd
    - index: 1
      type: string
      label: pathname
    - index: 2
      type: int
      label: flags
    selectors:
${selectors}`;
}

/** A selector with `entries` (matchArgs entries as [index, operator, values]). */
function argSelector(...entries: [number, string, (string | number)[]][]): string {
  const lines = ["    - matchArgs:"];
  for (const [index, operator, values] of entries) {
    lines.push(
      `      - index: ${index}`,
      `        operator: ${operator}`,
      `        values: [${values.map((v) => JSON.stringify(String(v))).join(", ")}]`,
    );
  }
  return lines.join("\n") + "\n";
}

const unlinkat = (path: string) => () => runPerl(syscallCode(NR.unlinkat, AT_FDCWD, path, 0));
const getpriority = (which: number, who: number) => () =>
  runPerl(syscallCode(NR.getpriority, which, who));

/** Expected args of an unlinkat(AT_FDCWD, path, 0) event. */
function unlinkatArgs(path: string): unknown[] {
  return [
    { int_arg: AT_FDCWD, label: "dirfd" },
    { string_arg: path, label: "pathname" },
    { int_arg: 0, label: "flags" },
  ];
}

/** Integer operator cases: policy name, `which` marker, filter on `who`, miss and hit values. */
const INT_CASES: {
  name: string;
  which: number;
  op: string;
  values: string[];
  miss: number;
  hit: number;
}[] = [
  { name: "int-equal", which: 7001, op: "Equal", values: ["1234"], miss: 1235, hit: 1234 },
  { name: "int-notequal", which: 7002, op: "NotEqual", values: ["1234"], miss: 1234, hit: 99 },
  { name: "int-gt", which: 7003, op: "GT", values: ["1000"], miss: 1000, hit: 1001 },
  { name: "int-lt", which: 7004, op: "LT", values: ["-10"], miss: -10, hit: -11 },
  { name: "int-mask", which: 7005, op: "Mask", values: ["0x10"], miss: 0x0f, hit: 0x30 },
  { name: "int-inmap", which: 7006, op: "InMap", values: ["11", "22", "33"], miss: 23, hit: 22 },
  { name: "int-notinmap", which: 7007, op: "NotInMap", values: ["11", "22"], miss: 11, hit: 44 },
  { name: "int-inrange", which: 7008, op: "InRange", values: ["100:200"], miss: 201, hit: 150 },
  {
    name: "int-notinrange",
    which: 7009,
    op: "NotInRange",
    values: ["100:200", "-5:5"],
    miss: -3,
    hit: 250,
  },
];

/** The string cases need the work dir: built in the agent's setup. */
function stringCases(w: string, tag: string) {
  return [
    {
      name: "str-equal",
      sel: argSelector([1, "Equal", [`${w}/eq/hit`]]),
      miss: `${w}/eq/miss`,
      hit: `${w}/eq/hit`,
    },
    {
      name: "str-notequal",
      sel: argSelector([1, "Prefix", [`${w}/neq/`]], [1, "NotEqual", [`${w}/neq/keep`]]),
      miss: `${w}/neq/keep`,
      hit: `${w}/neq/gone`,
    },
    {
      name: "str-prefix",
      sel: argSelector([1, "Prefix", [`${w}/prefix/a`, `${w}/prefix/zz`]]),
      miss: `${w}/prefix/b-1`,
      hit: `${w}/prefix/a-1`,
    },
    {
      name: "str-notprefix",
      sel: argSelector([1, "Prefix", [`${w}/notprefix/`]], [1, "NotPrefix", [
        `${w}/notprefix/keep`,
      ]]),
      miss: `${w}/notprefix/keep-1`,
      hit: `${w}/notprefix/gone-1`,
    },
    {
      name: "str-postfix",
      sel: argSelector([1, "Postfix", [`.${tag}.hit`]]),
      miss: `${w}/postfix/x.${tag}.miss`,
      hit: `${w}/postfix/x.${tag}.hit`,
    },
    {
      name: "str-notpostfix",
      sel: argSelector([1, "Prefix", [`${w}/notpostfix/`]], [1, "NotPostfix", [".keep"]]),
      miss: `${w}/notpostfix/a.keep`,
      hit: `${w}/notpostfix/a.gone`,
    },
  ];
}

const FD_SPEC = `  kprobes:
  - call: sys_ftruncate
    syscall: true
    args:
    - index: 0
      type: fd
      label: fd
    - index: 1
      type: long
      label: length
    selectors:
`;

const CONNECT_SPEC = `  kprobes:
  - call: sys_connect
    syscall: true
    args:
    - index: 0
      type: int
      label: sockfd
    - index: 1
      type: sockaddr
      label: address
    selectors:
    - matchArgs:
      - index: 1
        operator: Family
        values: ["AF_INET"]
      - index: 1
        operator: SAddr
        values: ["127.0.0.7/32"]
      - index: 1
        operator: SPort
        values: ["45123"]
`;

/** ftruncate(fd of `path` opened read-only, 4096): fails with EINVAL, changes nothing. */
function ftruncateOf(path: string): () => Promise<Ran> {
  return () =>
    runPerl(
      `open(my $f, "<", ${perlString(path)}) or die "open: $!"; ` +
        `syscall(${NR.ftruncate}, fileno($f), 4096);`,
    );
}

/** connect(2) to 127.0.0.7:port (nothing listens: ECONNREFUSED). */
function connectTo(port: number): () => Promise<Ran> {
  return () =>
    runPerl(
      `use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!"; ` +
        `connect($s, pack_sockaddr_in(${port}, inet_aton("127.0.0.7"))); exit 0;`,
    );
}

Deno.test({
  ...requires("policy e2e: matchArgs operators on real syscalls", ...POLICY_ENGINE_NEEDS),
  async fn(t) {
    const tag = crypto.randomUUID().slice(0, 8);
    let strings: ReturnType<typeof stringCases> = [];
    await using pa = await startPolicyAgent(async (w) => {
      strings = stringCases(w, tag);
      await Deno.mkdir(`${w}/fd`);
      await Deno.writeTextFile(`${w}/fd/hit-file`, "x");
      await Deno.writeTextFile(`${w}/fd/miss-file`, "x");
      const files: Record<string, string> = {};
      for (const c of strings) files[`${c.name}.yaml`] = policy(c.name, unlinkatSpec(c.sel));
      for (const c of INT_CASES) {
        files[`${c.name}.yaml`] = policy(
          c.name,
          getprioritySpec(argSelector([0, "Equal", [c.which]], [1, c.op, c.values])),
        );
      }
      files["fd-prefix.yaml"] = policy(
        "fd-prefix",
        FD_SPEC + argSelector([0, "Prefix", [`${w}/fd/hit`]]),
      );
      files["sockaddr.yaml"] = policy("sockaddr", CONNECT_SPEC);
      return files;
    });

    const all = await pa.policies();
    assert.deepEqual(
      all.filter((p) => p.state !== "enabled").map((p) => [p.name, p.reason]),
      [],
      "every policy is enabled",
    );

    for (const c of strings) {
      await t.step(`${c.name}: unlinkat pathname`, async () => {
        await expectOneEvent(pa, c.name, { miss: unlinkat(c.miss), hit: unlinkat(c.hit) }, (b) => {
          assert.equal(b.function_name, "__x64_sys_unlinkat");
          assert.deepEqual(b.args, unlinkatArgs(c.hit));
          assert.equal(b.action, "KPROBE_ACTION_POST");
        });
      });
    }

    for (const c of INT_CASES) {
      await t.step(`${c.name}: getpriority who ${c.op} ${c.values.join(",")}`, async () => {
        await expectOneEvent(
          pa,
          c.name,
          { miss: getpriority(c.which, c.miss), hit: getpriority(c.which, c.hit) },
          (b: ExportedEvent) => {
            assert.equal(b.function_name, "__x64_sys_getpriority");
            assert.deepEqual(b.args, [
              { int_arg: c.which, label: "which" },
              { int_arg: c.hit, label: "who" },
            ]);
          },
        );
      });
    }

    await t.step("fd-prefix: ftruncate fd resolved to its file's path", async () => {
      await expectOneEvent(
        pa,
        "fd-prefix",
        {
          miss: ftruncateOf(`${pa.work}/fd/miss-file`),
          hit: ftruncateOf(`${pa.work}/fd/hit-file`),
        },
        (b) => {
          assert.equal(b.function_name, "__x64_sys_ftruncate");
          assert.deepEqual(b.args, [
            { file_arg: { path: `${pa.work}/fd/hit-file` }, label: "fd" },
            { long_arg: "4096", label: "length" },
          ]);
        },
      );
    });

    await t.step("sockaddr: connect Family + SAddr + SPort", async () => {
      await expectOneEvent(
        pa,
        "sockaddr",
        { miss: connectTo(45124), hit: connectTo(45123) },
        (b) => {
          assert.equal(b.function_name, "__x64_sys_connect");
          assert.equal(b.args.length, 2);
          assert.equal(typeof b.args[0].int_arg, "number");
          assert.deepEqual(b.args[1], {
            sockaddr_arg: { family: "AF_INET", addr: "127.0.0.7", port: 45123 },
            label: "address",
          });
        },
      );
    });
  },
});
