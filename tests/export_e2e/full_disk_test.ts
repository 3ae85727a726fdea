/**
 * A full disk against the real agent (issue 14 item 8): the export goes to a small tmpfs that
 * fills up while marked processes run. No line in the file is ever cut (a consumer reading line
 * by line sees whole JSON only), the loss is counted in `vigil_export_lost_events_total` and
 * logged once (rate-limited), and once there is space again writing resumes and says so.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { Api } from "../api_e2e/_e2e.ts";
import { execMarks, newMark, runMarked, waitForMarks } from "./_exec_marks.ts";
import { requires } from "../_helpers/requires.ts";

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test(
  requires("a full disk: no cut line, lost events counted and logged once", "root"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "vigil-full-disk-" });
    await sh("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]);
    try {
      // Leave ~48 KiB for the export: a few dozen exec events.
      const filler = `${dir}/filler`;
      Deno.writeFileSync(filler, new Uint8Array(208 * 1024));
      const path = `${dir}/events.json`;
      await using agent = await startAgentProcess({ args: ["--export", path] });
      using api = await Api.of(agent);
      const mark = newMark("full");

      const t0 = performance.now();
      await runMarked(mark, 0, 400);
      // The last of them was processed once the agent has seen its exit; give it a moment.
      await new Promise((r) => setTimeout(r, 1500));
      const lost = (await api.metric("vigil_export_lost_events_total")) ?? 0;
      const seen = execMarks([path], mark); // throws on a cut line
      const text = Deno.readTextFileSync(path);
      assert.ok(text.endsWith("\n"), "the file ends with a whole line");
      // The host's other processes share the space, so how many of ours fit varies; not all do.
      assert.ok(seen.size < 400, `${seen.size} of 400 marks fit`);
      assert.ok(text.length > 40 * 1024, `${text.length} bytes written before the disk was full`);
      assert.ok(lost >= 400 - seen.size, `${lost} lost counted, ${400 - seen.size} marks missing`);
      const lossLines = agent.logs().filter((l) => l.includes('"msg":"export: write failed'));
      const seconds = (performance.now() - t0) / 1000;
      assert.ok(
        lossLines.length >= 1 && lossLines.length <= 1 + Math.floor(seconds / 10),
        `${lossLines.length} loss lines in ${seconds.toFixed(0)} s (one per 10 s at most)`,
      );
      assert.match(lossLines[0]!, /No space left on device/);
      assert.match(lossLines[0]!, /"lost_events":\d+/);

      // Space again: the next events are written, on a line boundary, and the agent says so.
      Deno.removeSync(filler);
      await runMarked(mark, 1000, 1010);
      assert.deepEqual(await waitForMarks(() => [path], mark, 1000, 1010), []);
      assert.ok(agent.logs().some((l) => l.includes('"msg":"export: writing again"')));
      execMarks([path], mark);
      assert.equal(await agent.stop(), 0);
    } finally {
      await sh("umount", [dir]);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
