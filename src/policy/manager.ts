/**
 * The running set of TracingPolicies: parse → plan (this kernel) → compile → write maps → attach,
 * one policy at a time and each independently (a broken one never stops the others). Replacing a
 * policy is atomic: the new version is attached before the old one is detached, so monitoring
 * and enforcement never pause; a new version that fails leaves the old one running.
 *
 * Every change (add, replace, delete, reload, the start-up load) goes through one ordered, bounded
 * queue (change_queue.ts); texts are parsed off the event loop (parse_off_thread.ts); the set of
 * policies is bounded (input_limits.ts).
 *
 * Single owner of the policy engine's hook slots and set entries; the event loop asks it to turn
 * policy records into export lines.
 *
 * @module
 */
import { ENUMS, STRUCTS } from "../bpf/abi.gen.ts";
import type { Logger } from "../log/logger.ts";
import { ChangeQueue, PolicyChangeError } from "./change_queue.ts";
import { compileHook, setEntriesOf } from "./compile.ts";
import type { HookCounters, HookLink, PolicyEngine, SetEntries } from "./engine.ts";
import type { ShadowReport } from "./runtime/shadow.ts";
import { type AttachPoint, mechanismRow } from "./mechanisms/mod.ts";
import { type HookEventInfo, hookEventInfo } from "./event_json.ts";
import { type PlanFacts, planPolicy, type PolicyPlan } from "./plan/mod.ts";
import { type StagedWrite, stagePolicyWrite } from "./save_file.ts";
import {
  clip,
  formatIssue,
  loadPolicyDir,
  OffThreadParser,
  type ParseResult,
  POLICY_SET_LIMITS,
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

/** A new version attached next to the old one, waiting to be committed or undone. */
interface Staged {
  readonly entry: PolicyEntry;
  readonly old: PolicyEntry | undefined;
}

/** One attached hook. */
interface LiveHook {
  readonly id: number;
  readonly link: HookLink;
  readonly sets: SetEntries;
  readonly label: string;
  readonly mechanism: string;
  readonly cost: string;
  /** The compiled struct vigil_hook, rewritten when the budget guard changes its bucket. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

/** One policy, enabled or in error. */
interface PolicyEntry {
  readonly name: string;
  readonly file: string;
  readonly yaml: string;
  readonly mode: PolicyMode;
  /** `throttled`: detached by the CPU-budget guard, re-attached by it after a cool-down. */
  readonly state: "enabled" | "error" | "throttled";
  readonly reason?: string;
  readonly plan?: PolicyPlan;
  readonly hooks: readonly LiveHook[];
  /** `vigil-cpu-budget`, when the policy sets its own. */
  readonly cpuBudget?: number;
  /** The budget guard's posts/s token bucket per hook (0: none). */
  readonly postsPerSec?: number;
}

/** What the budget guard needs of one policy. */
export interface BudgetSubject {
  readonly name: string;
  readonly state: "enabled" | "throttled";
  readonly hookIds: readonly number[];
  /** The policy's own budget (`vigil-cpu-budget`), if any. */
  readonly cpuBudget?: number;
  /** Sigkill, Signal or Override in enforce mode: never detached unless the operator allows it. */
  readonly enforcing: boolean;
  readonly postsPerSec: number;
}

/** Where one policy's calls stopped, per hook: fired = the sum of the other stages. */
export interface HookStages {
  readonly hook: string;
  readonly mechanism: string;
  readonly fired: number;
  readonly filteredByProcess: number;
  /** filteredByProcess, by the filter that turned the first selector down. */
  readonly filteredBy: HookCounters["filteredBy"];
  readonly argsRejected: number;
  readonly rateLimited: number;
  readonly budgetDropped: number;
  readonly ringFull: number;
  readonly noPost: number;
  readonly posted: number;
  readonly signals: number;
  readonly monitorSkipped: number;
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
  /** Parses policy texts (default: a worker with a deadline, stopped by {@link PolicyManager.close}). */
  readonly parser?: Pick<OffThreadParser, "parse" | "close">;
  /** The budget guard's view of a policy, merged into its status. */
  readonly budgetStatus?: (name: string) => PolicyStatus["budget"];
  /** Events of policy `name` written to the export stream so far (explain's last stage). */
  readonly exported?: (name: string) => number;
  /** Runs a shadow preflight (see runtime/shadow.ts); absent: not offered. */
  readonly shadow?: (yaml: string, seconds: number) => Promise<ShadowResult>;
  /**
   * Awaited after a directory's files are parsed, before the first is planned: at start the
   * engine may still be loading on another thread (src/agent/early_engine.ts).
   */
  readonly beforePlanning?: () => Promise<void>;
}

/** The outcome of a shadow run. */
export type ShadowResult =
  | { readonly ok: true; readonly report: ShadowReport }
  | { readonly ok: false; readonly errors: readonly PolicyError[] };

/** `GET /policies/NAME/stats`: where a policy's calls stopped. */
export interface PolicyStats {
  readonly policy: string;
  readonly state: string;
  readonly reason?: string;
  readonly hooks: readonly HookStages[];
  /** Sums over the hooks. */
  readonly total: Omit<HookStages, "hook" | "mechanism" | "filteredBy">;
  /** Events of the policy written to the export stream (posted ones still in flight are not). */
  readonly exported: number;
  readonly budget?: PolicyStatus["budget"];
}

/** A policy's stage totals, all zero: the start of {@link PolicyStats.total}'s sums. */
export function zeroStageTotals(): { -readonly [K in keyof PolicyStats["total"]]: number } {
  return {
    fired: 0,
    filteredByProcess: 0,
    argsRejected: 0,
    rateLimited: 0,
    budgetDropped: 0,
    ringFull: 0,
    noPost: 0,
    posted: 0,
    signals: 0,
    monitorSkipped: 0,
  };
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

/** Where a hook is attached, as status shows it: `sched/sched_process_exec`, `fd_install`. */
function attachLabel(at: AttachPoint): string {
  switch (at.kind) {
    case "tracepoint":
      return `${at.subsystem}/${at.event}`;
    case "raw_tracepoint":
      return at.event;
    case "lsm":
      return at.hook;
    case "uprobe":
      return `${at.path}:${at.symbol}`;
    case "fmod_ret":
      return `${at.function} (fmod_ret)`;
    default:
      return at.function;
  }
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
  /** Hook ids of the shadow runs attached now (see {@link shadowHookIds}). */
  readonly #shadowHooks = new Set<number>();
  #nextPolicyId = 1;
  /** Every change, one at a time, in arrival order. */
  readonly #changes = new ChangeQueue(POLICY_SET_LIMITS.maxQueuedChanges);
  readonly #parser: Pick<OffThreadParser, "parse" | "close">;

  constructor(deps: PolicyManagerDeps) {
    this.#deps = deps;
    this.#parser = deps.parser ?? new OffThreadParser({ logger: deps.logger });
  }

  /** The route of hook `id` (undefined once its policy is gone). */
  route(id: number): HookRoute | undefined {
    return this.#routes.get(id);
  }

  /**
   * Parses, plans and installs `text`. Parse or plan errors: nothing changes and the errors are
   * returned. Install failure of a new policy: it is kept in the error state with the reason; of a
   * replacement: the old version keeps running. Over the API (`file` "api") with a policy
   * directory, the text is saved there too, or nothing changes (a 500 saying why). Rejects with a
   * 503 {@link PolicyChangeError} when too many changes are waiting.
   */
  apply(text: string, file: string): Promise<ApplyResult> {
    return this.#changes.run(async () => {
      const parsed = await this.#parser.parse(text, file);
      const target = this.#deps.policyDir;
      if (file !== "api" || target === null || parsed.policy === undefined) {
        return this.#settle(this.#prepare(parsed, text, file));
      }
      // A policy read from a file of the directory is rewritten in that file (it need not be
      // <name>.yaml): a second file would bring the old version back at reload or restart.
      const name = parsed.policy.name;
      const previous = this.#policies.get(name)?.file;
      const path = previous !== undefined && this.#inPolicyDir(previous)
        ? previous
        : `${target}/${name}.yaml`;
      // Written before anything is attached, renamed into place once the new version runs.
      let write: StagedWrite;
      try {
        write = stagePolicyWrite(path, text);
      } catch (err) {
        return this.#notSaved(name, err);
      }
      const prepared = this.#prepare(parsed, text, path);
      if (!("entry" in prepared) && !prepared.ok) {
        write.abort();
        return prepared;
      }
      try {
        write.commit();
      } catch (err) {
        if ("entry" in prepared) this.#uninstall(prepared.entry);
        return this.#notSaved(name, err);
      }
      return this.#settle(prepared);
    });
  }

  #notSaved(name: string, err: unknown): ApplyResult {
    const message = `policy ${JSON.stringify(name)} not applied: ${
      clip(err instanceof Error ? err.message : String(err))
    }; the running policies are unchanged`;
    this.#deps.logger.error("policy not saved", { policy: name, error: message });
    return { ok: false, status: 500, errors: [{ message }] };
  }

  #settle(prepared: Staged | ApplyResult): ApplyResult {
    return "entry" in prepared ? this.#commit(prepared) : prepared;
  }

  /** Detaches the old version of a staged policy and makes the new one the running one. */
  #commit({ entry, old }: Staged): ApplyResult {
    if (old) this.#uninstall(old);
    this.#policies.set(entry.name, entry);
    this.#deps.logger.info(old ? "policy replaced" : "policy loaded", {
      policy: entry.name,
      hooks: entry.hooks.map((h) => `${h.label} via ${h.mechanism}`),
    });
    return { ok: true, policy: this.#status(entry), replaced: old !== undefined };
  }

  /** Keeps a valid policy that cannot run in the error state, within the bound on those. */
  #keepInError(entry: PolicyEntry, old: PolicyEntry | undefined): void {
    if (old?.state === "enabled") return;
    if (old === undefined && this.#errorCount() >= POLICY_SET_LIMITS.maxErrorPolicies) {
      this.#deps.logger.warn("policy in error not kept", {
        policy: entry.name,
        reason: `${POLICY_SET_LIMITS.maxErrorPolicies} policies are already in the error state`,
      });
      return;
    }
    this.#policies.set(entry.name, entry);
  }

  #errorCount(): number {
    let n = 0;
    for (const e of this.#policies.values()) if (e.state === "error") n++;
    return n;
  }

  /**
   * Plans and attaches a parsed policy next to its running version (if any): the result when
   * there is nothing to commit (errors, an unchanged text), else the staged new version.
   */
  #prepare(parsed: ParseResult, text: string, file: string): Staged | ApplyResult {
    for (const w of parsed.warnings) {
      this.#deps.logger.warn("policy warning", { issue: formatIssue(w, "warning") });
    }
    if (!parsed.policy) return { ok: false, errors: parsed.errors.map(issueToError) };
    const policy = parsed.policy;
    const old = this.#policies.get(policy.name);
    // A reload of an unchanged file keeps the running version (no re-attach churn).
    // A throttled one stays with the budget guard, which re-attaches it after its cool-down.
    if ((old?.state === "enabled" || old?.state === "throttled") && old.yaml === text) {
      return { ok: true, policy: this.#status(old), replaced: false };
    }
    if (old === undefined && this.#policies.size >= POLICY_SET_LIMITS.maxPolicies) {
      const message = `the agent holds at most ${POLICY_SET_LIMITS.maxPolicies} policies ` +
        `(vigil's limit); delete one first`;
      return { ok: false, errors: [{ message, file }] };
    }
    const plan = planPolicy(policy, this.#deps.facts());
    if (!plan.runnable) {
      const errors = plan.errors.map(issueToError);
      this.#keepInError({
        name: policy.name,
        file,
        yaml: text,
        mode: plan.mode,
        state: "error",
        reason: plan.reason ?? "not runnable on this kernel",
        plan,
        hooks: [],
      }, old);
      if (old?.state !== "enabled") {
        this.#deps.logger.warn("policy not runnable here", {
          policy: policy.name,
          reason: plan.reason,
        });
      }
      return { ok: false, errors };
    }
    let hooks: LiveHook[];
    try {
      hooks = this.#install(plan);
    } catch (err) {
      const message = `cannot load policy ${policy.name}: ${
        err instanceof Error ? err.message : String(err)
      }`;
      this.#keepInError({
        name: policy.name,
        file,
        yaml: text,
        mode: plan.mode,
        state: "error",
        reason: message,
        plan,
        hooks: [],
      }, old);
      this.#deps.logger.error("policy load failed", { policy: policy.name, error: message });
      return { ok: false, errors: [{ message, file }] };
    }
    // The new version is attached; the old one goes at commit.
    const entry: PolicyEntry = {
      name: policy.name,
      file,
      yaml: text,
      mode: plan.mode,
      state: "enabled",
      plan,
      hooks,
      ...(policy.spec.options.cpuBudget === undefined
        ? {}
        : { cpuBudget: policy.spec.options.cpuBudget }),
    };
    return { entry, old };
  }

  /** Compiles and attaches every hook of `plan`; undoes everything it did if one step fails. */
  #install(plan: PolicyPlan, postsPerSec = 0, shadow = false): LiveHook[] {
    const engine = this.#deps.engine();
    const policyId = this.#nextPolicyId++;
    const done: LiveHook[] = [];
    const pending: { id: number; sets?: SetEntries } = { id: -1 };
    try {
      for (const hook of plan.hooks) {
        const { mechanism, attach } = hook;
        if (mechanism === null || attach === null || mechanismRow(mechanism).program === null) {
          throw new Error(`${hook.name}: the engine has no program for ${mechanism ?? "it"}`);
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
        const bytes = withPostBudget(compiled.hookBytes, postsPerSec);
        if (shadow) bytes[HOOK_FIELDS.flags.offset]! |= ENUMS.vigil_hook_flags.VIGIL_HOOK_SHADOW;
        engine.writeHook(pending.id, bytes);
        if (!shadow) {
          this.#routes.set(pending.id, { policy: plan.policyName, info: hookEventInfo(hook) });
        }
        const link = engine.attach(pending.id, mechanism, attach);
        done.push({
          id: pending.id,
          link,
          sets,
          label: hook.name,
          mechanism: `${mechanism} ${attachLabel(attach)}`,
          cost: hook.cost.class,
          bytes: compiled.hookBytes,
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

  #uninstall(entry: { readonly hooks: readonly LiveHook[] }): void {
    for (const hook of entry.hooks) this.#detach(hook);
  }

  /**
   * Detaches and forgets policy `name` and removes its file from the policy directory. The file
   * goes first: when it cannot be removed the policy keeps running (a 500
   * {@link PolicyChangeError}), as it would come back at the next reload or restart.
   */
  delete(name: string): Promise<boolean> {
    return this.#changes.run(() => {
      const entry = this.#policies.get(name);
      if (!entry) return false;
      if (this.#inPolicyDir(entry.file)) {
        try {
          Deno.removeSync(entry.file);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) {
            const message = `cannot remove ${entry.file}: ${
              clip(err instanceof Error ? err.message : String(err))
            }; policy ${JSON.stringify(name)} keeps running`;
            this.#deps.logger.error("policy not deleted", { policy: name, error: message });
            throw new PolicyChangeError(500, message);
          }
        }
      }
      this.#forget(entry);
      return true;
    });
  }

  #forget(entry: PolicyEntry): void {
    this.#uninstall(entry);
    this.#policies.delete(entry.name);
    this.#deps.logger.info("policy deleted", { policy: entry.name });
  }

  #inPolicyDir(file: string): boolean {
    const dir = this.#deps.policyDir;
    return dir !== null && file.startsWith(`${dir}/`);
  }

  /**
   * Re-reads the policy directory as one change: every file is applied (changed ones replace
   * their running version atomically), and policies whose file is gone are removed. Failing
   * files keep their previous version running. A reload asked for while another one is still
   * waiting to start shares its outcome.
   */
  reload(): Promise<ReloadResult> {
    const dir = this.#deps.policyDir;
    if (dir === null) return Promise.resolve({ policies: this.list(), errors: [] });
    return this.#changes.run(async () => {
      const results = await this.#loadDir(dir);
      const present = new Set(results.map((r) => r.file));
      for (const entry of [...this.#policies.values()]) {
        if (this.#inPolicyDir(entry.file) && !present.has(entry.file)) this.#forget(entry);
      }
      const errors = results.flatMap((r) =>
        r.result.ok ? [] : r.result.errors.map((e) => ({ file: r.file, message: errorText(e) }))
      );
      return { policies: this.list(), errors };
    }, "reload");
  }

  /**
   * Loads every `*.yaml`/`*.yml` of `dir` as one change, each file on its own (a file that
   * cannot be read, parsed or loaded never stops the others); returns the per-file outcome.
   * Throws only when the directory cannot be listed.
   */
  loadDir(dir: string): Promise<{ file: string; result: ApplyResult }[]> {
    return this.#changes.run(() => this.#loadDir(dir));
  }

  async #loadDir(dir: string): Promise<{ file: string; result: ApplyResult }[]> {
    const results: { file: string; result: ApplyResult }[] = [];
    const parse = (text: string, file: string) => this.#parser.parse(text, file);
    const files = await loadPolicyDir(dir, { parse });
    await this.#deps.beforePlanning?.();
    for (const loaded of files) {
      const { file, text } = loaded;
      let result: ApplyResult;
      try {
        result = text === undefined || loaded.policy === undefined
          ? { ok: false, errors: loaded.errors.map(issueToError) }
          : this.#settle(this.#prepare(loaded, text, file));
      } catch (err) {
        const why = clip(err instanceof Error ? err.message : String(err));
        result = { ok: false, errors: [{ message: `cannot load the file: ${why}`, file }] };
      }
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
    const total = { ...ZERO };
    for (const hook of entry.hooks) {
      const c = this.#deps.engine().counters(hook.id);
      total.seen += c.seen;
      total.posted += c.posted;
      // Filtered in the kernel: by the process filters or by the argument filters.
      total.filtered += c.filtered + c.argsRejected;
      total.rateLimited += c.rateLimited;
      total.signals += c.signals;
    }
    return total;
  }

  #status(entry: PolicyEntry, withCounters = true): PolicyStatus {
    const hooks = entry.hooks.length > 0
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
      ...budgetOf(this.#deps.budgetStatus?.(entry.name)),
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
          counters: kernelFiltered(this.#deps.engine().counters(hook.id)),
        });
      }
    }
    return out;
  }

  /**
   * Hooks of shadow runs attached now. They run in programs shared with the policies' hooks, so
   * the budget guard counts their calls too, or their run time would be charged to the policies.
   */
  shadowHookIds(): number[] {
    return [...this.#shadowHooks];
  }

  /** The policies the budget guard watches: attached ones, and the ones it detached. */
  budgetSubjects(): BudgetSubject[] {
    const out: BudgetSubject[] = [];
    for (const e of this.#policies.values()) {
      if (e.state === "error") continue;
      out.push({
        name: e.name,
        state: e.state,
        hookIds: e.hooks.map((h) => h.id),
        ...(e.cpuBudget === undefined ? {} : { cpuBudget: e.cpuBudget }),
        enforcing: e.mode === "enforce" && enforcingActions(e.plan),
        postsPerSec: e.postsPerSec ?? 0,
      });
    }
    return out;
  }

  /**
   * The budget guard's token bucket: at most `postsPerSec` posts per second per hook (0: none),
   * separate from the policy's own rateLimit. Enforcement is unaffected (actions run before).
   */
  setPostBudget(name: string, postsPerSec: number): Promise<boolean> {
    return this.#changes.run(() => {
      const entry = this.#policies.get(name);
      if (!entry || entry.state !== "enabled") return false;
      const engine = this.#deps.engine();
      for (const hook of entry.hooks) {
        engine.writeHook(hook.id, withPostBudget(hook.bytes, postsPerSec));
      }
      this.#policies.set(name, { ...entry, postsPerSec });
      return true;
    });
  }

  /** The budget guard detaches policy `name` (kept, state `throttled`, with the reason). */
  throttle(name: string, reason: string): Promise<boolean> {
    return this.#changes.run(() => {
      const entry = this.#policies.get(name);
      if (!entry || entry.state !== "enabled") return false;
      this.#uninstall(entry);
      this.#policies.set(name, { ...entry, state: "throttled", reason, hooks: [], postsPerSec: 0 });
      return true;
    });
  }

  /** The budget guard re-attaches a throttled policy (its plan as loaded). */
  restore(name: string): Promise<boolean> {
    return this.#changes.run(() => {
      const entry = this.#policies.get(name);
      if (!entry || entry.state !== "throttled" || entry.plan === undefined) return false;
      const hooks = this.#install(entry.plan);
      const { reason: _reason, ...rest } = entry;
      this.#policies.set(name, { ...rest, state: "enabled", hooks, postsPerSec: 0 });
      return true;
    });
  }

  /** Where policy `name`'s calls stopped, per hook (undefined: no such policy). */
  stages(name: string): HookStages[] | undefined {
    const entry = this.#policies.get(name);
    if (!entry) return undefined;
    return entry.hooks.map((h) => {
      const c = this.#deps.engine().counters(h.id);
      return {
        hook: h.label,
        mechanism: h.mechanism,
        fired: c.seen,
        filteredByProcess: c.filtered,
        filteredBy: c.filteredBy,
        argsRejected: c.argsRejected,
        rateLimited: c.rateLimited,
        budgetDropped: c.budgetDropped,
        ringFull: c.drops,
        noPost: c.noPost,
        posted: c.posted,
        signals: c.signals,
        monitorSkipped: c.monitorSkipped,
      };
    });
  }

  /** {@link stages} with totals and the exported count (undefined: no such policy). */
  stats(name: string): PolicyStats | undefined {
    const entry = this.#policies.get(name);
    const hooks = this.stages(name);
    if (!entry || !hooks) return undefined;
    const total = zeroStageTotals();
    for (const h of hooks) {
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += h[k];
    }
    const budget = this.#deps.budgetStatus?.(name);
    return {
      policy: name,
      state: entry.state,
      ...(entry.reason ? { reason: entry.reason } : {}),
      hooks,
      total,
      exported: this.#deps.exported?.(name) ?? 0,
      ...(budget === undefined ? {} : { budget }),
    };
  }

  /** A shadow preflight of `yaml` for `seconds` (POST /policies?dryRun=shadow). */
  shadow(yaml: string, seconds: number): Promise<ShadowResult> {
    if (!this.#deps.shadow) {
      return Promise.resolve({ ok: false, errors: [{ message: "shadow runs are not offered" }] });
    }
    return this.#deps.shadow(yaml, seconds);
  }

  /**
   * Attaches `text` as a shadow (preflight): its selectors run and are counted, nothing is
   * posted and no action is taken. Not a running policy: it is not listed, and `remove` detaches
   * it. Parse or plan errors: nothing is attached.
   */
  installShadow(text: string): Promise<
    | { ok: false; errors: PolicyError[] }
    | {
      ok: true;
      name: string;
      cpuBudget?: number;
      hooks: { id: number; label: string; mechanism: string }[];
      remove: () => Promise<void>;
    }
  > {
    return this.#changes.run(async () => {
      const parsed = await this.#parser.parse(text, "shadow");
      if (!parsed.policy) {
        return { ok: false as const, errors: parsed.errors.map(issueToError) };
      }
      const plan = planPolicy(parsed.policy, this.#deps.facts());
      if (!plan.runnable) return { ok: false as const, errors: plan.errors.map(issueToError) };
      const hooks = this.#install(plan, 0, true);
      for (const h of hooks) this.#shadowHooks.add(h.id);
      const cpuBudget = parsed.policy.spec.options.cpuBudget;
      let attached = true;
      const detach = () => {
        if (!attached) return;
        attached = false;
        this.#uninstall({ hooks });
        for (const h of hooks) this.#shadowHooks.delete(h.id);
      };
      return {
        ok: true as const,
        name: parsed.policy.name,
        ...(cpuBudget === undefined ? {} : { cpuBudget }),
        hooks: hooks.map((h) => ({ id: h.id, label: h.label, mechanism: h.mechanism })),
        // In order behind other changes; a full queue must not leave the shadow attached, and
        // its hooks are no part of the policy set, so then they go at once.
        remove: () => this.#changes.run(detach).catch(detach),
      };
    });
  }

  /** Detaches every policy and stops the parser (the engine itself is closed by its owner). */
  close(): void {
    this.#parser.close();
    for (const entry of this.#policies.values()) {
      for (const hook of entry.hooks) hook.link.close();
    }
    this.#policies.clear();
    this.#routes.clear();
  }
}

/** Whether a plan has an action that changes what the hooked call does (Sigkill, Signal, Override). */
function enforcingActions(plan: PolicyPlan | undefined): boolean {
  return (plan?.hooks ?? []).some((h) =>
    h.selectors.some((sel) =>
      sel.actions.some((a) =>
        a.kind === "VIGIL_ACT_SIGKILL" || a.kind === "VIGIL_ACT_SIGNAL" ||
        a.kind === "VIGIL_ACT_OVERRIDE"
      )
    )
  );
}

const HOOK_FIELDS = STRUCTS.vigil_hook.fields;

/** A copy of a compiled hook with the budget guard's bucket: ns of credit per post per CPU. */
function withPostBudget(
  bytes: Uint8Array<ArrayBuffer>,
  postsPerSec: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  const cpus = Math.max(navigator.hardwareConcurrency, 1);
  const ns = postsPerSec > 0 ? Math.min(Math.round(1e9 * cpus / postsPerSec), 0xffffffff) : 0;
  new DataView(out.buffer).setUint32(HOOK_FIELDS.budget_post_ns.offset, ns, true);
  return out;
}

function budgetOf(b: PolicyStatus["budget"]): { budget?: NonNullable<PolicyStatus["budget"]> } {
  return b === undefined ? {} : { budget: b };
}

/** A hook's counters with `filtered` as status and metrics report it: process or argument filters. */
function kernelFiltered(c: HookCounters): HookCounters {
  return { ...c, filtered: c.filtered + c.argsRejected };
}
