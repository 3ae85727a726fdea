/**
 * The client verbs as a user runs them (`deno run --allow-all main.ts <verb> --api ...`) against
 * a real API server with fake deps, on a unix socket and on 127.0.0.1; plus the pure formatting
 * of `vigil events --compact` and `vigil top`.
 */
import assert from "node:assert/strict";
import { startApiServer } from "../../src/api/server.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { compactEvent } from "../../src/cli/events.ts";
import { formatTop, programSamples, topRows } from "../../src/cli/top.ts";
import { fakes, POLICIES_DIR } from "../api/_fakes.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function vigil(args: string[]): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "main.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** A server on a unix socket in a temp dir, with its token file and fakes. */
async function withServer(
  fn: (ctx: { api: string[]; f: ReturnType<typeof fakes>; dir: string }) => Promise<void>,
  listen?: string,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vigil-cli-test-" });
  const f = fakes();
  const { token: _token, ...deps } = f.deps;
  const tokenFile = `${dir}/api-token`;
  const server = await startApiServer(
    { listen: listen ?? `unix:${dir}/api.sock`, tokenFile, logger: silentLogger },
    deps,
  );
  try {
    await fn({ api: ["--api", server.address, "--api-token-file", tokenFile], f, dir });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("vigil policy add/list/delete/reload against a server on a unix socket", async () => {
  await withServer(async ({ api, f, dir }) => {
    let r = await vigil(["policy", "list", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "no policies\n");

    r = await vigil(["policy", "add", `${POLICIES_DIR}connect_port.yaml`, ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^policy connect-port added: enabled\n {2}kprobe:\w+ {2}kprobe {2}cost medium\n$/,
    );

    r = await vigil(["policy", "add", `${POLICIES_DIR}connect_port.yaml`, ...api]);
    assert.match(r.stdout, /^policy connect-port replaced: enabled/);

    r = await vigil(["policy", "list", ...api]);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trimEnd().split("\n");
    assert.match(
      header!,
      /^NAME\s+STATE\s+MODE\s+HOOKS\s+SEEN\s+POSTED\s+FILTERED\s+RATELIMITED\s+SIGNALS\s+CPU\/BUDGET\s+REASON$/,
    );
    assert.match(row!, /^connect-port\s+enabled\s+enforce\s+1\/1 kprobe\s+0\s+0\s+0\s+0\s+0\s+-$/);

    r = await vigil(["policy", "list", "--json", ...api]);
    assert.equal(JSON.parse(r.stdout)[0].name, "connect-port");

    // An invalid policy: the server's precise errors, printed against the local file name.
    const bad = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      bad,
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bad\nspec:\n  kprobes:\n  - call: [3]\n",
    );
    r = await vigil(["policy", "add", bad, ...api]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(
        `^${bad}:7:11: expected a string, got a list .*\\(at spec\\.kprobes\\[0\\]\\.call\\)\n$`,
      ),
    );

    r = await vigil(["policy", "delete", "connect-port", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "policy connect-port deleted\n");
    assert.equal(f.policies.list().length, 0);

    r = await vigil(["policy", "delete", "connect-port", ...api]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "vigil policy delete: no policy named 'connect-port' (HTTP 404)\n");

    r = await vigil(["policy", "reload", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "reloaded: 0 policies\n");

    f.policies.nextReload = {
      policies: [],
      errors: [{ file: "/etc/vigil/policies/x.yaml", message: "x.yaml:1:1: bad" }],
    };
    r = await vigil(["policy", "reload", ...api]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "/etc/vigil/policies/x.yaml: x.yaml:1:1: bad\n");
    assert.equal(r.stdout, "reloaded: 0 policies, 1 failed\n");
  });
});

Deno.test("changes without a readable or valid token fail with one clear line", async () => {
  await withServer(async ({ api, dir }) => {
    const [, address] = api;
    let r = await vigil([
      "policy",
      "delete",
      "x",
      "--api",
      address!,
      "--api-token-file",
      `${dir}/missing`,
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `vigil policy delete: cannot read the API token from ${dir}/missing: no such file — changes need the token (run as root, or pass --api-token-file)\n`,
    );
    await Deno.writeTextFile(`${dir}/wrong`, "not-the-token\n");
    r = await vigil(["policy", "reload", "--api", address!, "--api-token-file", `${dir}/wrong`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `vigil policy reload: the agent refused the token from ${dir}/wrong (401): invalid bearer token\n`,
    );
  });
});

Deno.test("reads send the token; without a readable one they fail with one clear line", async () => {
  await withServer(async ({ api, dir }) => {
    const [, address] = api;
    const noToken = ["--api", address!, "--api-token-file", `${dir}/missing`];
    for (const verb of [["status"], ["policy", "list"], ["events"]]) {
      const r = await vigil([...verb, ...noToken]);
      assert.equal(r.code, 1, verb.join(" "));
      assert.equal(
        r.stderr,
        `vigil ${verb.join(" ")}: cannot read the API token from ${dir}/missing: no such file — ` +
          "events, policies and status need the token (run as root, or pass --api-token-file) " +
          "(401: missing bearer token: send 'Authorization: Bearer <token>' with the token from " +
          "the agent's --api-token-file)\n",
      );
    }
    // /metrics is public by default: top works without the token.
    const top = await vigil(["top", "--once", ...noToken]);
    assert.equal(top.code, 0, top.stderr);
  });
});

Deno.test("vigil status over TCP: ready (0), not ready (1), --json", async () => {
  await withServer(async ({ api, f }) => {
    let r = await vigil(["status", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vigil at 127\.0\.0\.1:\d+: ready\n\nversion: 0\.1\.0\n/);
    assert.match(r.stdout, /runs: "5"/);
    assert.match(r.stdout, /\npolicies: none\n$/);

    f.health.ready = false;
    f.health.reason = "loading policies";
    r = await vigil(["status", "--json", ...api]);
    assert.equal(r.code, 1);
    const body = JSON.parse(r.stdout);
    assert.equal(body.ready, false);
    assert.equal(body.reason, "loading policies");
    assert.equal(body.status.version, "0.1.0");
    assert.deepEqual(body.policies, []);
  }, "127.0.0.1:0");
});

Deno.test("vigil events --compact --type follows the stream until interrupted", async () => {
  await withServer(async ({ api, f }) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "main.ts",
        "events",
        "--compact",
        "--type",
        "process_exec,process_exit",
        ...api,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      for (let i = 0; i < 400 && f.hub.stats().subscribers === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(f.hub.stats().subscribers, 1, "the CLI subscribed");
      const exec = {
        process_exec: { process: { binary: "/usr/bin/curl", arguments: "https://example.org" } },
      };
      const kprobe = {
        process_kprobe: { process: { binary: "/usr/bin/cat" }, function_name: "x" },
      };
      const exit = {
        process_exit: {
          process: { binary: "/bin/sh", arguments: "-c 'exit 3'", docker: "0123456789abcdef" },
          status: 3,
        },
      };
      f.hub.publish(JSON.stringify(exec), { type: "process_exec" });
      f.hub.publish(JSON.stringify(kprobe), { type: "process_kprobe" });
      f.hub.publish(JSON.stringify(exit), { type: "process_exit" });

      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (out.split("\n").length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      assert.equal(
        out,
        "🚀 process /usr/bin/curl https://example.org\n💥 exit    [0123456789ab] /bin/sh -c 'exit 3' 3\n",
      );
      reader.releaseLock();
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel();
    }
  });
});

Deno.test("vigil top --once prints per-program overhead, busiest first", async () => {
  await withServer(async ({ api }) => {
    const r = await vigil(["top", "--once", "--interval", "0.2", "--cpus", "2", ...api]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^Ovh\(%\)\s+Id\s+Cnt\s+Time\(ns\)\s+Name\s+Policy$/);
    // The fake grows 50 ms (id 12) and 2 ms (id 11) per scrape: 0.05 s / (~0.2 s × 2 CPUs).
    const m = /^(\d+\.\d\d)\s+12\s+1000\s+50000000\s+generic_kprobe\s+etc-sensitive-reads$/.exec(
      lines[1]!,
    );
    assert.ok(m, String(lines[1]));
    assert.ok(Number(m[1]) > 5 && Number(m[1]) <= 12.5, String(m[1]));
    assert.match(lines[2]!, /^\d+\.\d\d\s+11\s+100\s+2000000\s+vigil_exec$/);
  });
});

Deno.test("an unreachable agent gives one clear line and exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nobody listens there now
  for (const verb of [["status"], ["policy", "list"], ["events"], ["top", "--once"]]) {
    const r = await vigil([...verb, "--api", `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, verb.join(" "));
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      `vigil ${verb.filter((w) => !w.startsWith("-")).join(" ")}: cannot reach the vigil API at ` +
        `127.0.0.1:${port}: connection refused — is \`vigil run\` running?\n`,
    );
  }
  const r = await vigil(["status", "--api", "unix:/nonexistent/vigil.sock"]);
  assert.match(
    r.stderr,
    /cannot reach the vigil API at unix:\/nonexistent\/vigil\.sock: no such socket/,
  );
  const bad = await vigil(["status", "--api", "nonsense"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--api: API address 'nonsense': expected HOST:PORT/);
});

Deno.test("every client verb has --help; 'vigil policy' prints the sub-verbs", async () => {
  for (
    const verb of [
      ["status"],
      ["policy", "list"],
      ["policy", "add"],
      ["policy", "delete"],
      ["policy", "reload"],
      ["policy", "explain"],
      ["policy", "plan"],
      ["events"],
      ["top"],
    ]
  ) {
    const r = await vigil([...verb, "--help"]);
    assert.equal(r.code, 0, verb.join(" "));
    assert.match(r.stdout, new RegExp(`^Usage: vigil ${verb.join(" ")}`));
    assert.match(r.stdout, /--api ADDR/);
  }
  const r = await vigil(["policy", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /list .*\n.*add FILE.*\n.*delete NAME.*\n.*reload.*\n.*check FILE/);
});

Deno.test("compactEvent() renders process, exit and policy events on one escaped line", () => {
  assert.equal(
    compactEvent(
      JSON.stringify({
        process_exec: {
          process: {
            binary: "/bin/true",
            arguments: "a b",
            pod: { namespace: "default", name: "web" },
          },
        },
      }),
    ),
    "🚀 process default/web /bin/true a b",
  );
  assert.equal(
    compactEvent(
      JSON.stringify({ process_exit: { process: { binary: "/bin/sleep" }, signal: "SIGKILL" } }),
    ),
    "💥 exit    /bin/sleep SIGKILL",
  );
  assert.equal(
    compactEvent(JSON.stringify({ process_exit: { process: { binary: "/bin/x" } } })),
    "💥 exit    /bin/x 0",
  );
  assert.equal(
    compactEvent(JSON.stringify({
      process_kprobe: {
        process: { binary: "/usr/bin/cat" },
        function_name: "security_file_permission",
        args: [{ file_arg: { path: "/etc/shadow" } }, { int_arg: 4 }],
        action: "KPROBE_ACTION_SIGKILL",
        policy_name: "etc-sensitive-reads",
      },
    })),
    "🔎 policy  etc-sensitive-reads /usr/bin/cat security_file_permission /etc/shadow 4 [sigkill]",
  );
  assert.equal(
    compactEvent(JSON.stringify({
      process_kprobe: {
        process: { binary: "/usr/bin/curl" },
        function_name: "tcp_connect",
        args: [{ sock_arg: { saddr: "10.0.0.1", sport: 40000, daddr: "1.1.1.1", dport: 443 } }],
        policy_name: "connect-port",
      },
    })),
    "🔎 policy  connect-port /usr/bin/curl tcp_connect 10.0.0.1:40000 -> 1.1.1.1:443",
  );
  assert.equal(
    compactEvent(
      JSON.stringify({
        process_tracepoint: {
          process: { binary: "/x" },
          subsys: "sched",
          event: "sched_process_exec",
          policy_name: "p",
        },
      }),
    ),
    "🔎 policy  p /x sched/sched_process_exec",
  );
  // Terminal control characters in event data are escaped.
  assert.equal(
    compactEvent(
      JSON.stringify({
        process_exec: { process: { binary: "/bin/echo", arguments: "\u001b[31mred\u0007" } },
      }),
    ),
    "🚀 process /bin/echo \\x1b[31mred\\x07",
  );
  assert.equal(compactEvent("not json \u001b"), "not json \\x1b");
  assert.equal(compactEvent('{"other":1}'), '❓ {"other":1}');
});

Deno.test("topRows() computes Ovh% = Δtime / (interval × CPUs) and sorts busiest first", () => {
  const text = (runs: number, secs: number, runs2: number, secs2: number) =>
    [
      "# TYPE vigil_bpf_stats_enabled gauge",
      "vigil_bpf_stats_enabled 1",
      `vigil_bpf_program_runs_total{id="3",program="a",policy=""} ${runs}`,
      `vigil_bpf_program_run_time_seconds_total{id="3",program="a",policy=""} ${secs}`,
      `vigil_bpf_program_runs_total{id="4",program="b",policy="p"} ${runs2}`,
      `vigil_bpf_program_run_time_seconds_total{id="4",program="b",policy="p"} ${secs2}`,
    ].join("\n");
  const before = programSamples(text(10, 1, 5, 0.5));
  const after = programSamples(text(110, 1.2, 5, 0.5));
  assert.equal(after.statsEnabled, true);
  const rows = topRows(before.programs, after.programs, 1, 4);
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.id, "3");
  assert.equal(rows[0]!.runs, 100);
  assert.equal(rows[0]!.timeNs, 200_000_000);
  assert.ok(Math.abs(rows[0]!.overheadPct - 5) < 1e-9); // 0.2 s / (1 s × 4) = 5 %
  assert.equal(rows[1]!.overheadPct, 0);
  assert.equal(
    formatTop(rows),
    [
      "Ovh(%)  Id  Cnt  Time(ns)   Name  Policy",
      "5.00    3   100  200000000  a",
      "0.00    4   0    0          b     p",
    ].join("\n"),
  );
});
