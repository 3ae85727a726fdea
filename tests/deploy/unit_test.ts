/**
 * deploy/vigil.service: `systemd-analyze verify` accepts it without a single warning, and it keeps
 * what an eBPF agent needs. When /usr/local/bin/vigil is not installed, a copy whose ExecStart
 * points at a dummy executable is verified instead (verify checks that the binary exists).
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";

const UNIT = new URL("../../deploy/vigil.service", import.meta.url).pathname;
const BINARY = "/usr/local/bin/vigil";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes the unit (with `edit` applied) into a temp dir; returns its path. */
async function stage(edit: (text: string) => string = (t) => t): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vigil-unit-test-" });
  let text = edit(await Deno.readTextFile(UNIT));
  if (!exists(BINARY)) {
    await Deno.writeTextFile(`${dir}/vigil`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    text = text.replace(`ExecStart=${BINARY} `, `ExecStart=${dir}/vigil `);
  }
  await Deno.writeTextFile(`${dir}/vigil.service`, text);
  return `${dir}/vigil.service`;
}

async function analyze(...args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command("systemd-analyze", { args, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: out.code, output: (d.decode(out.stdout) + d.decode(out.stderr)).trim() };
}

function tool(name: string) {
  return requires(name, "systemd-analyze");
}

Deno.test(
  tool("systemd-analyze verify accepts deploy/vigil.service with no warnings"),
  async () => {
    const path = await stage();
    const r = await analyze("verify", path);
    assert.equal(r.output, "", r.output);
    assert.equal(r.code, 0);
    await Deno.remove(path.replace(/\/vigil\.service$/, ""), { recursive: true });
  },
);

Deno.test(tool("systemd-analyze verify reports a broken unit (the check is real)"), async () => {
  const path = await stage((t) => t.replace("Type=notify", "Type=notifyy"));
  const r = await analyze("verify", path);
  assert.match(r.output, /Failed to parse service type/);
  await Deno.remove(path.replace(/\/vigil\.service$/, ""), { recursive: true });
});

Deno.test(tool("systemd-analyze security rates the unit's exposure below 'EXPOSED'"), async () => {
  const path = await stage();
  const r = await analyze("security", "--offline=yes", path);
  const m = /Overall exposure level for vigil\.service: (\d+\.\d)/.exec(r.output);
  assert.ok(m, r.output.slice(-500));
  assert.ok(Number(m[1]) < 7, `exposure ${m[1]}`);
  await Deno.remove(path.replace(/\/vigil\.service$/, ""), { recursive: true });
});

Deno.test("the unit runs vigil as Type=notify with the hardening an eBPF agent survives", async () => {
  const settings = new Map<string, string>();
  for (const line of (await Deno.readTextFile(UNIT)).split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, m[2]!);
  }
  assert.equal(settings.get("Type"), "notify");
  assert.equal(
    settings.get("ExecStart"),
    "/usr/local/bin/vigil run --export /var/log/vigil/events.json --policy-dir /etc/vigil/policies --api-token-file /etc/vigil/api-token",
  );
  assert.equal(settings.get("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(settings.get("Restart"), "on-failure");
  assert.equal(settings.get("LimitMEMLOCK"), "infinity");
  assert.equal(settings.get("ProtectSystem"), "strict");
  assert.equal(settings.get("PrivateTmp"), "yes");
  assert.equal(settings.get("NoNewPrivileges"), "yes");
  const caps = new Set(settings.get("CapabilityBoundingSet")!.split(/\s+/));
  for (
    const cap of [
      "CAP_BPF",
      "CAP_PERFMON",
      "CAP_SYS_ADMIN",
      "CAP_SYS_RESOURCE",
      "CAP_SYS_PTRACE",
      "CAP_DAC_READ_SEARCH",
      "CAP_KILL",
    ]
  ) assert.ok(caps.has(cap), cap);
  // Writable: the policy directory and token (under /etc/vigil), logs, bpffs.
  assert.match(settings.get("ReadWritePaths")!, /(^| )\/etc\/vigil( |$)/);
  assert.match(settings.get("ReadWritePaths")!, /-\/sys\/fs\/bpf/);
  assert.equal(settings.get("LogsDirectory"), "vigil");
  // Settings that would break the agent are absent: a read-only /sys (tracefs, securityfs and
  // bpffs mounts), no W+X pages (V8's JIT), hidden processes.
  for (
    const key of [
      "ProtectKernelTunables",
      "MemoryDenyWriteExecute",
      "ProtectProc",
      "PrivateNetwork",
    ]
  ) {
    assert.equal(settings.get(key), undefined, key);
  }
});
