/**
 * systemd readiness against a real unix datagram listener (Python's socket module, independent of
 * vigil's FFI code), on a filesystem path and on an abstract name.
 */
import assert from "node:assert/strict";
import { notifyReady, notifyStopping, sdNotify } from "../../src/api/notify.ts";

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
name = sys.argv[1]
s.bind("\\0" + name[1:] if name.startswith("@") else name)
s.settimeout(10)
print("ready", flush=True)
data = s.recv(4096)
sys.stdout.write(data.hex() + "\\n")
`;
import { requires } from "../_helpers/requires.ts";

/** Starts a listener on `address`; resolves once bound, with a function returning the datagram. */
async function listen(address: string): Promise<() => Promise<string>> {
  const child = new Deno.Command("python3", { args: ["-c", LISTENER, address], stdout: "piped" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("listener exited early");
    out += value;
  }
  return async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    await child.status;
    const hex = out.slice(out.indexOf("ready\n") + 6).trim();
    return new TextDecoder().decode(
      Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16)),
    );
  };
}

Deno.test(
  requires(
    "notifyReady() sends READY=1 and STATUS to a filesystem socket from $NOTIFY_SOCKET",
    "python3",
  ),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "vigil-notify-" });
    const path = `${dir}/notify`;
    const received = await listen(path);
    const old = Deno.env.get("NOTIFY_SOCKET");
    Deno.env.set("NOTIFY_SOCKET", path);
    try {
      const result = notifyReady("monitoring: 3 policies\nattached");
      assert.deepEqual(result, { sent: true, socket: path });
    } finally {
      if (old === undefined) Deno.env.delete("NOTIFY_SOCKET");
      else Deno.env.set("NOTIFY_SOCKET", old);
    }
    assert.equal(await received(), "READY=1\nSTATUS=monitoring: 3 policies; attached\n");
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(requires("notifyStopping() reaches an abstract socket (@name)", "python3"), async () => {
  const name = `@vigil-test-notify-${crypto.randomUUID()}`;
  const received = await listen(name);
  assert.deepEqual(notifyStopping("bye", { socket: name }), { sent: true, socket: name });
  assert.equal(await received(), "STOPPING=1\nSTATUS=bye\n");
});

Deno.test("without NOTIFY_SOCKET every call is a no-op", () => {
  assert.deepEqual(notifyReady(undefined, { socket: undefined }), {
    sent: false,
    reason: "no NOTIFY_SOCKET",
  });
  assert.deepEqual(sdNotify(["READY=1"], { socket: "" }), {
    sent: false,
    reason: "no NOTIFY_SOCKET",
  });
});

Deno.test("a missing socket or a bad line is reported, not thrown", () => {
  const r = notifyReady(undefined, { socket: "/nonexistent/vigil/notify" });
  assert.equal(r.sent, false);
  assert.ok(
    "error" in r && /sendto \/nonexistent\/vigil\/notify: ENOENT/.test(r.error),
    JSON.stringify(r),
  );
  const bad = sdNotify(["READY=1\nX"], { socket: "/tmp/x" });
  assert.ok("error" in bad && /bad sd_notify line/.test(bad.error));
  const long = notifyReady(undefined, { socket: "/" + "x".repeat(200) });
  assert.ok("error" in long && /too long/.test(long.error));
});

Deno.test("without env permission for NOTIFY_SOCKET the result says so instead of a silent no-op", async () => {
  const module = new URL("../../src/api/notify.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir({ prefix: "vigil-notify-perm-" });
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    `import { notifyReady } from "${module}";\nDeno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(notifyReady())));\n`,
  );
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--allow-ffi", "--allow-read", `${dir}/main.ts`],
    env: { NOTIFY_SOCKET: "/run/systemd/notify" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const result = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(result.sent, false);
  assert.match(result.error, /cannot read \$NOTIFY_SOCKET \(needs --allow-env=NOTIFY_SOCKET\)/);
});
