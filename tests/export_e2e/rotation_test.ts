/**
 * Log rotation against the real agent (issue 14 item 7): while marked processes run, the export
 * file is renamed (logrotate's default, no signal), deleted, copy-truncated (logrotate's
 * copytruncate) and renamed with SIGHUP (logrotate's create + postrotate). Every exec event of
 * the marked processes is found in the files afterwards (in the renamed file or the new one), and
 * every line of every file is whole JSON.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { execMarks, newMark, runMarked, waitForMarks } from "./_exec_marks.ts";
import { requires } from "../_helpers/requires.ts";

const N = 60;

Deno.test(
  requires("rename, delete, copytruncate and SIGHUP: no exec event lost, no broken line", "root"),
  async () => {
    await using agent = await startAgentProcess();
    const path = agent.exportPath;
    const mark = newMark("rotate");
    const files = new Set([path]);
    const all = () => [...files];

    // 1. Rename while processes run: the agent notices by itself and creates a new file.
    const running = runMarked(mark, 0, N);
    await waitForMarks(all, mark, 0, 10);
    Deno.renameSync(path, `${path}.1`);
    files.add(`${path}.1`);
    await running;
    assert.deepEqual(await waitForMarks(all, mark, 0, N), [], "renamed: nothing lost");
    await runMarked(mark, 5 * N, 5 * N + 10);
    assert.deepEqual(await waitForMarks(() => [path], mark, 5 * N, 5 * N + 10), [], "new file");

    // 2. Delete: the events of processes that run afterwards are all in a new file.
    Deno.removeSync(path);
    await runMarked(mark, N, 2 * N);
    assert.deepEqual(await waitForMarks(() => [path], mark, N, 2 * N), [], "deleted: new file");

    // 3. copytruncate: copy, then truncate in place; writing continues at the new end.
    Deno.copyFileSync(path, `${path}.2`);
    files.add(`${path}.2`);
    Deno.truncateSync(path, 0);
    await runMarked(mark, 2 * N, 3 * N);
    assert.deepEqual(await waitForMarks(() => [path], mark, 2 * N, 3 * N), [], "copytruncate");
    const bytes = Deno.readFileSync(path);
    assert.equal(bytes.indexOf(0), -1, "no hole of NUL bytes after the truncation");

    // 4. Rename and SIGHUP, as logrotate's postrotate does, with processes running throughout.
    const running2 = runMarked(mark, 3 * N, 4 * N);
    await waitForMarks(all, mark, 3 * N, 3 * N + 10);
    Deno.renameSync(path, `${path}.3`);
    files.add(`${path}.3`);
    Deno.kill(agent.pid, "SIGHUP");
    await running2;
    assert.deepEqual(await waitForMarks(all, mark, 3 * N, 4 * N), [], "SIGHUP: nothing lost");
    await runMarked(mark, 6 * N, 6 * N + 10);
    assert.deepEqual(await waitForMarks(() => [path], mark, 6 * N, 6 * N + 10), [], "new file");

    const logs = agent.logs().join("\n");
    assert.match(logs, /"msg":"export: reopened the export file"/);
    assert.match(logs, /"msg":"SIGHUP: reloading policies"/);
    assert.equal(await agent.stop(), 0);
    // Every line of every file is whole JSON (execMarks throws on a broken one); the events in
    // the deleted and truncated files are gone by the operator's hand, the last phase's are all
    // still there.
    const seen = execMarks(all(), mark);
    for (let i = 3 * N; i < 4 * N; i++) assert.ok(seen.has(i), `mark ${i} (SIGHUP phase)`);
  },
);
