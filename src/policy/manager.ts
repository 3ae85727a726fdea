/**
 * The running set of TracingPolicies: parse → plan (this kernel) → compile → write maps → attach,
 * one policy at a time and each independently (a broken one never stops the others). Replacing a
 * policy is atomic: the new version is attached before the old one is detached, so monitoring
 * and enforcement never pause; a new version that fails leaves the old one running.
 *
 * Single owner of the policy engine's hook slots and set entries; the event loop asks it to turn
 * policy records into export lines.
 *
 * @module
 */
import type { BpfLink } from "../bpf/link.ts";
import type { Logger } from "../log/logger.ts";
import { compileHook, setEntriesOf } from "./compile.ts";
import type { PolicyEngine, SetEntries } from "./engine.ts";
import { type HookEventInfo, hookEventInfo } from "./event_json.ts";
import { type PlanFacts, planPolicy, type PolicyPlan } from "./plan/mod.ts";
import {
  formatIssue,
  loadPolicyDir,
  parsePolicy,
  type ParseResult,
  type PolicyIssue,
} from "./spec/mod.ts";
import type {
  ApplyResult,
  PolicyCounters,
  PolicyError,
  PolicyMode,
  PolicyStatus,
  ReloadResult,
} from "./status.ts";

/** One attached hook. */
interface LiveHook {
  readonly id: number;
  readonly link: BpfLink;
  readonly sets: SetEntries;
  readonly label: string;
  readonly mechanism: string;
  readonly cost: string;
}

/** One policy, enabled or in error. */
interface PolicyEntry {
  readonly name: string;
  readonly file: string;
  readonly yaml: string;
  readonly mode: PolicyMode;
  readonly state: "enabled" | "error";
  readonly reason?: string;
  readonly plan?: PolicyPlan;
  readonly hooks: readonly LiveHook[];
}

/** What an event needs to know of the hook that posted it. */
export interface HookRoute {
  readonly policy: string;
  readonly info: HookEventInfo;
}

/** Collaborators of a {@link PolicyManager}. */
export interface PolicyManagerDeps {
  /** The engine, loaded on first use (an agent without policies never loads it). */
  readonly engine: () => PolicyEngine;
  /** Kernel facts for planning, probed on first use. */
  readonly facts: () => PlanFacts;
  readonly logger: Logger;
  /**
   * The policy directory: loaded by {@link PolicyManager.reload}, and where policies added over
   * the API are written so they survive a restart. null: none (API policies live in memory).
   */
  readonly policyDir: string | null;
}

function issueToError(issue: PolicyIssue): PolicyError {
  return {
    message: issue.message,
    file: issue.file,
    line: issue.line,
    column: issue.column,
    path: issue.path,
  };
}

/** One line for an error: `file:line:column: path: message` when it has a place, else the message. */
function errorText(e: PolicyError): string {
  if (e.file === undefined || e.line === undefined) return e.message;
  return formatIssue({
    file: e.file,
    line: e.line,
    column: e.column ?? 1,
    path: e.path ?? "",
    message: e.message,
  });
}

const ZERO: PolicyCounters = { seen: 0, posted: 0, filtered: 0, rateLimited: 0, signals: 0 };

/** Owns the loaded policies. */
export class PolicyManager {
  readonly #deps: PolicyManagerDeps;
  readonly #policies = new Map<string, PolicyEntry>();
  readonly #routes = new Map<number, HookRoute>();
  #nextPolicyId = 1;
  /** Serialises changes: one apply/delete at a time, in arrival order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: PolicyManagerDeps) {
    this.#deps = deps;
  }

  #serial<T>(fn: () => T): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** The route of hook `id` (undefined once its policy is gone). */
  route(id: number): HookRoute | undefined {
    return this.#routes.get(id);
  }

  /**
   * Parses, plans and installs `text`. Parse or plan errors: nothing changes and the errors are
   * returned. Install failure of a new policy: it is kept in the error state with the reason; of a
   * replacement: the old version keeps running.
   */
  apply(text: string, file: string): Promise<ApplyResult> {
    return this.#serial(() => {
      if (file !== "api") return this.#apply(text, file);
      // Over the API: on success the YAML is written to the policy directory (atomically).
      const target = this.#deps.policyDir;
      const files = new Map([...this.#policies].map(([name, e]) => [name, e.file]));
      const result = this.#apply(text, "api");
      if (result.ok && target !== null) {
        // A policy read from a file of the directory is rewritten in that file (it need not be
        // <name>.yaml): a second file would bring the old version back at reload or restart.
        const previous = files.get(result.policy.name);
        const path = previous !== undefined && this.#inPolicyDir(previous)
          ? previous
          : `${target}/${result.policy.name}.yaml`;
        const tmp = `${path}.tmp-${crypto.randomUUID()}`;
        Deno.writeTextFileSync(tmp, text);
        Deno.renameSync(tmp, path);
        this.#retarget(result.policy.name, path);
        return { ...result, policy: { ...result.policy, file: path } };
      }
      return result;
    });
  }

  #retarget(name: string, file: string): void {
    const entry = this.#policies.get(name);
    if (entry) this.#policies.set(name, { ...entry, file });
  }

  #apply(text: string, file: string, parsed: ParseResult = parsePolicy(text, file)): ApplyResult {
    for (const w of parsed.warnings) {
      this.#deps.logger.warn("policy warning", { issue: formatIssue(w, "warning") });
    }
    if (!parsed.policy) return { ok: false, errors: parsed.errors.map(issueToError) };
    const policy = parsed.policy;
    const old = this.#policies.get(policy.name);
    // A reload of an unchanged file keeps the running version (no re-attach churn).
    if (old?.state === "enabled" && old.yaml === text) {
      return { ok: true, policy: this.#status(old), replaced: false };
    }
    const plan = planPolicy(policy, this.#deps.facts());
    if (!plan.runnable) {
      const errors = plan.errors.map(issueToError);
      if (old?.state === "enabled") return { ok: false, errors };
      this.#policies.set(policy.name, {
        name: policy.name,
        file,
        yaml: text,
        mode: plan.mode,
        state: "error",
        reason: plan.reason ?? "not runnable on this kernel",
        plan,
        hooks: [],
      });
      this.#deps.logger.warn("policy not runnable here", {
        policy: policy.name,
        reason: plan.reason,
      });
      return { ok: false, errors };
    }
    let hooks: LiveHook[];
    try {
      hooks = this.#install(plan);
    } catch (err) {
      const message = `cannot load policy ${policy.name}: ${
        err instanceof Error ? err.message : String(err)
      }`;
      if (old?.state !== "enabled") {
        this.#policies.set(policy.name, {
          name: policy.name,
          file,
          yaml: text,
          mode: plan.mode,
          state: "error",
          reason: message,
          plan,
          hooks: [],
        });
      }
      this.#deps.logger.error("policy load failed", { policy: policy.name, error: message });
      return { ok: false, errors: [{ message, file }] };
    }
    // The new version is attached; only now does the old one go.
    if (old) this.#uninstall(old);
    const entry: PolicyEntry = {
      name: policy.name,
      file,
      yaml: text,
      mode: plan.mode,
      state: "enabled",
      plan,
      hooks,
    };
    this.#policies.set(policy.name, entry);
    this.#deps.logger.info(old ? "policy replaced" : "policy loaded", {
      policy: policy.name,
      hooks: hooks.map((h) => `${h.label} via ${h.mechanism}`),
    });
    return { ok: true, policy: this.#status(entry), replaced: old !== undefined };
  }

  /** Compiles and attaches every hook of `plan`; undoes everything it did if one step fails. */
  #install(plan: PolicyPlan): LiveHook[] {
    const engine = this.#deps.engine();
    const policyId = this.#nextPolicyId++;
    const done: LiveHook[] = [];
    const pending: { id: number; sets?: SetEntries } = { id: -1 };
    try {
      if (plan.hooks.some((h) => h.attach?.kind === "tracepoint")) engine.ensureTracefs();
      for (const hook of plan.hooks) {
        if (hook.attach?.kind !== "tracepoint") {
          throw new Error(
            `${hook.name}: the engine cannot attach ${hook.attach?.kind ?? "nothing"} hooks`,
          );
        }
        pending.id = engine.allocHook();
        delete pending.sets;
        const compiled = compileHook(hook, {
          hookId: pending.id,
          policyId,
          allocSetId: () => engine.allocSetId(),
        });
        const sets = setEntriesOf(compiled);
        pending.sets = sets;
        engine.resetCounters(pending.id);
        engine.addSets(sets);
        engine.writeHook(pending.id, compiled.hookBytes);
        this.#routes.set(pending.id, { policy: plan.policyName, info: hookEventInfo(hook) });
        const link = engine.attach(pending.id, hook.attach.subsystem, hook.attach.event);
        done.push({
          id: pending.id,
          link,
          sets,
          label: hook.name,
          mechanism: `${hook.mechanism ?? "?"} ${hook.attach.subsystem}/${hook.attach.event}`,
          cost: hook.cost.class,
        });
        pending.id = -1;
      }
      return done;
    } catch (err) {
      if (pending.id >= 0) {
        if (pending.sets) engine.removeSets(pending.sets);
        this.#routes.delete(pending.id);
        engine.releaseHook(pending.id);
      }
      for (const hook of done) this.#detach(hook);
      throw err;
    }
  }

  #detach(hook: LiveHook): void {
    const engine = this.#deps.engine();
    hook.link.close();
    engine.removeSets(hook.sets);
    engine.releaseHook(hook.id);
    // Events already in the ring for this hook still resolve until the next reload turns over.
    // The slot may be reused before then: only forget the route if it is still this hook's.
    const route = this.#routes.get(hook.id);
    setTimeout(() => {
      if (this.#routes.get(hook.id) === route) this.#routes.delete(hook.id);
    }, 1000);
  }

  #uninstall(entry: PolicyEntry): void {
    for (const hook of entry.hooks) this.#detach(hook);
  }

  /** Detaches and forgets policy `name` (and removes its file from the policy directory). */
  delete(name: string): Promise<boolean> {
    return this.#serial(() => {
      const entry = this.#policies.get(name);
      if (!entry) return false;
      this.#uninstall(entry);
      this.#policies.delete(name);
      if (this.#inPolicyDir(entry.file)) {
        try {
          Deno.removeSync(entry.file);
        } catch (err) {
          this.#deps.logger.warn("cannot remove policy file", {
            file: entry.file,
            error: String(err),
          });
        }
      }
      this.#deps.logger.info("policy deleted", { policy: name });
      return true;
    });
  }

  #inPolicyDir(file: string): boolean {
    const dir = this.#deps.policyDir;
    return dir !== null && file.startsWith(`${dir}/`);
  }

  /**
   * Re-reads the policy directory: every file is applied (changed ones replace their running
   * version atomically), and policies whose file is gone are removed. Failing files keep their
   * previous version running.
   */
  async reload(): Promise<ReloadResult> {
    const dir = this.#deps.policyDir;
    if (dir === null) return { policies: this.list(), errors: [] };
    const results = await this.loadDir(dir);
    const present = new Set(results.map((r) => r.file));
    for (const entry of [...this.#policies.values()]) {
      if (this.#inPolicyDir(entry.file) && !present.has(entry.file)) await this.delete(entry.name);
    }
    const errors = results.flatMap((r) =>
      r.result.ok ? [] : r.result.errors.map((e) => ({ file: r.file, message: errorText(e) }))
    );
    return { policies: this.list(), errors };
  }

  /**
   * Loads every `*.yaml`/`*.yml` of `dir` with the spec stage's directory rules (name order,
   * symlinks followed, a name already used by an earlier file is an error), each file on its own;
   * returns the per-file outcome.
   */
  async loadDir(dir: string): Promise<{ file: string; result: ApplyResult }[]> {
    const results: { file: string; result: ApplyResult }[] = [];
    for (const loaded of await loadPolicyDir(dir)) {
      const { file, text } = loaded;
      const result: ApplyResult = text === undefined || loaded.policy === undefined
        ? { ok: false, errors: loaded.errors.map(issueToError) }
        : await this.#serial(() => this.#apply(text, file, loaded));
      if (!result.ok) {
        for (const e of result.errors) {
          this.#deps.logger.error("policy rejected", { file, error: errorText(e) });
        }
      }
      results.push({ file, result });
    }
    return results;
  }

  #counters(entry: PolicyEntry): PolicyCounters {
    const total = { seen: 0, posted: 0, filtered: 0, rateLimited: 0, signals: 0 };
    for (const hook of entry.hooks) {
      const c = this.#deps.engine().counters(hook.id);
      total.seen += c.seen;
      total.posted += c.posted;
      total.filtered += c.filtered;
      total.rateLimited += c.rateLimited;
      total.signals += c.signals;
    }
    return total;
  }

  #status(entry: PolicyEntry, withCounters = true): PolicyStatus {
    const hooks = entry.state === "enabled"
      ? entry.hooks.map((h) => ({
        hook: h.label,
        mechanism: h.mechanism,
        cost: h.cost,
        attached: true,
      }))
      : (entry.plan?.hooks ?? []).map((h) => ({
        hook: h.name,
        mechanism: h.mechanism ?? "none",
        cost: h.cost.class,
        attached: false,
      }));
    return {
      name: entry.name,
      state: entry.state,
      ...(entry.reason ? { reason: entry.reason } : {}),
      file: entry.file,
      mode: entry.mode,
      hooks,
      counters: withCounters ? this.#counters(entry) : { ...ZERO },
    };
  }

  /**
   * Every policy's status, by name. `counters: false` skips reading the kernel counters (the
   * metrics' state gauge needs none, and reading them costs per hook).
   */
  list(options: { counters?: boolean } = {}): PolicyStatus[] {
    const withCounters = options.counters ?? true;
    return [...this.#policies.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => this.#status(e, withCounters));
  }

  /** The YAML of policy `name`, as loaded. */
  get(name: string): { name: string; yaml: string; file: string } | undefined {
    const entry = this.#policies.get(name);
    return entry ? { name, yaml: entry.yaml, file: entry.file } : undefined;
  }

  /** Per-hook kernel counters with labels, for metrics. */
  hookCounters(): { policy: string; hook: string; counters: PolicyCounters }[] {
    const out: { policy: string; hook: string; counters: PolicyCounters }[] = [];
    for (const entry of this.#policies.values()) {
      for (const hook of entry.hooks) {
        out.push({
          policy: entry.name,
          hook: hook.label,
          counters: this.#deps.engine().counters(hook.id),
        });
      }
    }
    return out;
  }

  /** Detaches every policy (the engine itself is closed by its owner). */
  close(): void {
    for (const entry of this.#policies.values()) {
      for (const hook of entry.hooks) hook.link.close();
    }
    this.#policies.clear();
    this.#routes.clear();
  }
}
