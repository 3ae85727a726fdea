/** `vigil run`'s workload-metadata flags, as parsed into the agent's config. */
import assert from "node:assert/strict";
import { configFromFlags } from "../../src/cli/run.ts";
import { UsageError } from "../../src/cli/command.ts";

function config(args: string[]) {
  const c = configFromFlags(["--policy-dir", "", ...args]);
  assert.notEqual(c, "help");
  return c as Exclude<typeof c, "help">;
}

Deno.test("by default every source is auto-detected, and events wait 15 x 2 s at most", () => {
  const c = config([]);
  assert.deepEqual(c.metadata, {
    containerd: {},
    docker: {},
    garden: {},
    kubernetes: {},
    resyncIntervalMs: 60_000,
  });
  assert.deepEqual(c.parking, { retryDelayMs: 2000, retries: 15, maxEvents: 8192 });
});

Deno.test("a path is always used; an empty one turns the source off", () => {
  const c = config([
    "--containerd-socket",
    "/run/k3s/containerd/containerd.sock",
    "--docker-socket",
    "",
    "--garden-socket",
    "/tmp/garden.sock",
    "--kubeconfig",
    "/etc/vigil/kubeconfig",
    "--metadata-resync-interval",
    "30",
    "--metadata-retry-delay",
    "500",
    "--metadata-retries",
    "4",
    "--metadata-max-parked",
    "100",
  ]);
  assert.deepEqual(c.metadata, {
    containerd: { socketPath: "/run/k3s/containerd/containerd.sock", enabled: true },
    docker: false,
    garden: { socketPath: "/tmp/garden.sock", enabled: true },
    kubernetes: { kubeconfig: "/etc/vigil/kubeconfig", enabled: true },
    resyncIntervalMs: 30_000,
  });
  assert.deepEqual(c.parking, { retryDelayMs: 500, retries: 4, maxEvents: 100 });
  assert.equal(config(["--kubeconfig", ""]).metadata?.kubernetes, false);
});

Deno.test("--no-metadata turns every source off and contradicts a source flag", () => {
  assert.equal(config(["--no-metadata"]).metadata, null);
  assert.throws(
    () => config(["--no-metadata", "--containerd-socket", "/x.sock"]),
    (err) =>
      err instanceof UsageError &&
      /--no-metadata contradicts --containerd-socket/.test(err.message),
  );
  assert.throws(() => config(["--metadata-retries", "0"]), UsageError);
  assert.throws(() => config(["--metadata-retry-delay", "soon"]), UsageError);
});
