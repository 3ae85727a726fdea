/**
 * The fork-heavy case (the gap Tetragon closed in #2902): a process in a kubepods container forks
 * workers that never exec and keep deleting files, which the file-deletion policy reports, for
 * longer than the retry window; the container's metadata reaches containerd only after the
 * workers started. Every event of every worker, policy events and exits, must carry the pod.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { RuncSession } from "../_helpers/runc.ts";
import { ContainerdDaemon } from "../metadata/_containerd.ts";
import {
  apiGet,
  buildForker,
  e2eTest,
  fileDeletionPolicyDir,
  flagsOf,
  hex64,
  kubeletLabels,
  metric,
  sleep,
  T,
  untilSourceUp,
} from "./_e2e.ts";

const WORKERS = 4;
const WORK_SECONDS = 7;
const RETRY_DELAY_MS = 250;
const RETRIES = 12; // a 3 s window, shorter than the workers' 7 s

Deno.test({
  ...e2eTest("fork-heavy: every event of workers forked before the metadata arrived has the pod"),
  ...T,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigil-forkheavy-" });
    try {
      const forker = await buildForker(dir);
      await using d = await ContainerdDaemon.start();
      await d.importImage("k8s.io");
      await using session = await RuncSession.open();
      await using agent = await startAgentProcess({
        args: [
          "--containerd-socket",
          d.socket,
          "--metadata-retry-delay",
          String(RETRY_DELAY_MS),
          "--metadata-retries",
          String(RETRIES),
          "--policy-dir",
          await fileDeletionPolicyDir(dir),
        ],
      });
      await untilSourceUp(agent);

      const pod = { namespace: "web", name: "gunicorn-5c9d7-abcde", uid: crypto.randomUUID() };
      const id = hex64();
      await using container = await session.start(`/kubepods/burstable/pod${pod.uid}/${id}`);
      // The workload binary goes into the container's /tmp (its own tmpfs).
      await Deno.copyFile(forker, `/proc/${container.pid}/root/tmp/forker`);
      await Deno.chmod(`/proc/${container.pid}/root/tmp/forker`, 0o755);
      const started = Date.now();
      const work = container.exec([
        "/tmp/forker",
        String(WORKERS),
        String(WORK_SECONDS),
        "100",
        "/tmp",
      ]);

      // The records arrive after the workers started.
      await sleep(1000);
      const before = agent.events().filter((e) =>
        e.process_kprobe?.process?.pid !== undefined &&
        e.process_kprobe.process.binary === "/tmp/forker"
      );
      assert.equal(before.length, 0, "the workers' events wait for the metadata");
      await d.createContainer("k8s.io", hex64(), { ...kubeletLabels(pod, null), app: "gunicorn" });
      await d.createContainer("k8s.io", id, kubeletLabels(pod, "web"));

      const done = await work;
      assert.equal(done.code, 0, done.stderr);
      const forkerPid = done.pid;
      assert.equal([...done.stdout.matchAll(/^worker \d+$/gm)].length, WORKERS, done.stdout);
      assert.ok(Date.now() - started > RETRY_DELAY_MS * RETRIES, "ran past the retry window");

      // Every worker's exit is in (the printed pids are the container's own), then check
      // everything of the forker's tree.
      const exits = await agent.waitFor(
        (e) =>
          e.process_exit?.parent?.pid === forkerPid && e.process_exit.process.pid !== forkerPid,
        { count: WORKERS, timeoutMs: 15_000 },
      );
      const workerPids: number[] = exits.map((e) => e.process_exit.process.pid);
      await agent.waitFor((e) => e.process_exit?.process?.pid === forkerPid, { timeoutMs: 10_000 });
      await sleep(300);
      const tree = agent.events().filter((e) => {
        const body = e.process_kprobe ?? e.process_exit ?? e.process_exec;
        const pid = body?.process?.pid;
        return pid === forkerPid || workerPids.includes(pid);
      });
      const kprobes = tree.filter((e) => e.process_kprobe);
      const perWorker = workerPids.map((pid) =>
        kprobes.filter((e) => e.process_kprobe.process.pid === pid).length
      );
      // ~10 deletions per second per worker for 7 s.
      for (const n of perWorker) assert.ok(n >= 30, `policy events per worker: ${perWorker}`);
      const firstTime = Math.min(...kprobes.map((e) => Date.parse(e.time)));
      const late = kprobes.filter((e) =>
        Date.parse(e.time) > firstTime + RETRY_DELAY_MS * RETRIES + 1000
      );
      assert.ok(late.length >= WORKERS * 10, `events after the window: ${late.length}`);

      const missing: string[] = [];
      for (const e of tree) {
        const body = e.process_kprobe ?? e.process_exit ?? e.process_exec;
        const p = body.process;
        const ok = p.pod?.name === pod.name && p.pod.namespace === pod.namespace &&
          p.pod.uid === pod.uid && p.pod.container?.name === "web" &&
          p.pod.container.id === `containerd://${id}` &&
          p.pod.pod_labels?.app === "gunicorn" && !flagsOf(p).includes("nometadata") &&
          // A worker's parent is the forker, in the pod too (the forker's is runc, on the host).
          (p.pid === forkerPid || body.parent?.pod?.name === pod.name);
        if (!ok) missing.push(JSON.stringify(e));
      }
      assert.deepEqual(missing.slice(0, 3), [], `${missing.length} of ${tree.length} incomplete`);
      // Workers never exec'd: their process objects are clones of the forker.
      for (const e of kprobes) {
        const p = e.process_kprobe.process;
        if (p.pid !== forkerPid) assert.ok(flagsOf(p).includes("clone"), JSON.stringify(p));
      }

      const metrics = await apiGet(agent, "/metrics");
      const parked = metric(
        metrics,
        'vigil_metadata_events_parked_total{type="process_kprobe",reason="not_found"}',
      ) ??
        0;
      const resolved = metric(
        metrics,
        'vigil_metadata_events_resolved_total{type="process_kprobe",reason="not_found"}',
      );
      assert.ok(parked >= WORKERS * 5, `policy events parked: ${parked}`);
      assert.equal(resolved, parked);
      assert.doesNotMatch(metrics, /^vigil_metadata_events_gave_up_total\{/m);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
