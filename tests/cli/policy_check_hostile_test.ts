/**
 * `vigil policy check` with hostile files in the batch (issue 14 item 1): every file gets its own
 * verdict, the hostile ones a located error, and the good ones their plan on this kernel.
 */
import assert from "node:assert/strict";
import { hostileTexts } from "../policy/_hostile.ts";
import { requires } from "../_helpers/requires.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test(
  requires("policy check: hostile files never hide the verdict on the others", "root"),
  () => {
    const dir = Deno.makeTempDirSync({ prefix: "vigil-check-hostile-" });
    try {
      const files = [`${ROOT}policies/file_deletion.yaml`];
      for (const [name, text] of Object.entries(hostileTexts())) {
        Deno.writeTextFileSync(`${dir}/${name}.yaml`, text);
        files.push(`${dir}/${name}.yaml`);
      }
      Deno.writeTextFileSync(`${dir}/huge.yaml`, "#".repeat(2 * 1024 * 1024));
      files.push(`${dir}/huge.yaml`, `${ROOT}policies/etc_reads.yaml`);
      const out = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "main.ts", "policy", "check", "--json", ...files],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 1, new TextDecoder().decode(out.stderr));
      const report = JSON.parse(stdout) as {
        files: {
          file: string;
          valid: boolean;
          runnable: boolean;
          errors: string[];
          plan?: unknown;
        }[];
      };
      assert.deepEqual(report.files.map((f) => f.file), files);
      const byName = new Map(report.files.map((f) => [f.file.split("/").pop()!, f]));
      for (const good of ["file_deletion.yaml", "etc_reads.yaml"]) {
        const f = byName.get(good)!;
        assert.equal(f.valid, true, good);
        assert.ok(f.plan !== undefined, `${good} has its plan`);
      }
      const expect: Record<string, RegExp> = {
        "deep.yaml": /deep\.yaml:10:132: YAML nested more than 64 levels deep/,
        "deep-flow.yaml": /deep-flow\.yaml:10:\d+: YAML nested more than 64 levels deep/,
        "alias-bomb.yaml": /alias-bomb\.yaml:\d+:5: the document expands to more than/,
        "many-keys.yaml": /many-keys\.yaml:\d+:3: more than 20000 YAML nodes/,
        "huge-name.yaml": /huge-name\.yaml:4:9: metadata\.name: /,
        "long-errors.yaml": /long-errors\.yaml:6:3: spec\.x+…: unknown field "x+…/,
        "huge.yaml": /huge\.yaml:1:1: the file is 2097152 bytes; vigil's limit is 1048576/,
      };
      for (const [name, pattern] of Object.entries(expect)) {
        const f = byName.get(name)!;
        assert.equal(f.valid, false, name);
        assert.match(f.errors[0]!, pattern);
      }
      assert.equal(byName.get("long-errors.yaml")!.errors.length, 101);
      assert.ok(stdout.length < 1_000_000, `${stdout.length}-byte report`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
