// testRun: a pipeline definition run in this process, decided by the engine's own pure
// planner (which tasks start, which are skipped, how the run ends) with the engine's rules for
// retries and their delays, timeouts, approval gates, environments and secret masking, on a
// clock of its own: mocks' delays, retry waits and gates' timeouts take no real time. run()
// tasks execute for real unless mocked; container tasks are mocked unless `containers: "docker"`.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "bun";
import { decisionEnd, timeoutDecision, waitingGate, type GateDecision } from "../domain/approvals.ts";
import { formatDuration } from "../domain/duration.ts";
import { toPipelineSpec, type PipelineSpec, type TaskSpec } from "../domain/pipeline-spec.ts";
import { retryDelayMs } from "../domain/retry-delay.ts";
import { planRun, runEnd } from "../domain/run-plan.ts";
import { checkInputs, type InputValues } from "../domain/run-inputs.ts";
import { createMasker, type Masker } from "../domain/secret-masking.ts";
import { isFinalTaskState, timedOutReason, type TaskState } from "../domain/states.ts";
import { isProvidedSecret } from "../domain/github-token.ts";
import { composeTaskEnv, SECRETS_WITHHELD_REASON } from "../domain/task-env.ts";
import { runContainerTask } from "./container-task.ts";
import { describeRun, type LogStream, type TestAttempt, type TestRun, type TestStart, type TestTask } from "./run-result.ts";
import { captureTaskOutput, inTask, TaskExit } from "./task-capture.ts";
import { triggerVariables, type TestTrigger } from "./trigger-variables.ts";
import { capturedShell } from "./task-shell.ts";
import { createTestCaches, type TestCaches } from "./test-caches.ts";

/** What a mocked task does instead of its code. */
export interface TaskMock {
  /** 0 (the default) succeeds; anything else fails with "exited with code N". */
  exitCode?: number;
  /** Lines it writes to stdout (a string is split at newlines). */
  log?: string | string[];
  /** Lines it writes to stderr. */
  stderr?: string | string[];
  /** How long it takes on the run's clock (no real time passes); past the task's timeout it times out. */
  delayMs?: number;
  /** What a run() task's function would have returned. */
  output?: unknown;
}

/** The context a mock function gets: a run() task's, its log captured the same way. */
export interface MockContext {
  readonly env: Readonly<Record<string, string>>;
  readonly inputs: Readonly<InputValues>;
  readonly attempt: number;
  readonly workspace: string;
  readonly signal: AbortSignal;
  readonly taskId: string;
  log: (...parts: unknown[]) => void;
}

/**
 * A mock function: called for each attempt; it may log, write files in the workspace, and
 * return an exit code, a TaskMock, or nothing (success). A throw fails the attempt.
 */
export type TaskMockFunction = (ctx: MockContext) => void | number | TaskMock | Promise<void | number | TaskMock>;

export interface TestRunOptions {
  /** The run's typed inputs, checked against the pipeline's `inputs` as the server checks them. */
  inputs?: Record<string, unknown>;
  /** Run variables (over the pipeline's). */
  variables?: Record<string, string>;
  /** Secret values by name, for `secret("name")` in task env; every value is masked in the logs. */
  secrets?: Record<string, string>;
  /** What started the run: a webhook body, a GitHub event, or variables as a trigger would set them. */
  trigger?: TestTrigger;
  /** Tasks that do not run their code: a result, or a function called in their place. */
  mocks?: Record<string, TaskMock | TaskMockFunction>;
  /** Decisions of approval gates; a gate not named here is decided by its autoApprove, else by its timeout. */
  approvals?: Record<string, "approve" | "reject" | { outcome: "approve" | "reject"; by?: string; comment?: string }>;
  /** "mock" (the default): container tasks succeed without running; "docker": they run on the local Docker engine. */
  containers?: "mock" | "docker";
  /** The namespace the run is in (GANTRY_NAMESPACE); "default". */
  namespace?: string;
  /** Keep the workspace after the run (its path is run.workspace). */
  keepWorkspace?: boolean;
}

interface Outcome {
  state: "successful" | "failed" | "cancelled";
  exitCode: number | null;
  reason: string | null;
  output?: unknown;
  /** How long it took on the run's clock when more than its real time (a mock's delayMs, a gate's wait). */
  durationMs?: number;
}

/** An attempt under way: a real one (its promise) or one whose end is known on the clock. */
interface Flight {
  task: TaskSpec;
  attempt: number;
  startedAt: number;
  mocked: boolean;
  /** Set when the end is known: it comes at `endsAt` on the clock. */
  ended?: Outcome;
  endsAt?: number;
  /** A real attempt: resolves with its outcome. */
  running?: Promise<Outcome>;
  realStart?: number;
  /** Set while the task waits to retry: the next attempt starts at this time. */
  retryAt?: number;
}

/** A pipeline file's default export, as definePipeline returns it. */
export interface PipelineDefinitionLike {
  id: string;
  tasks: unknown;
  [key: string]: unknown;
}

type TaskDefinition = { kind: string; fn?: (ctx: unknown) => unknown; autoApprove?: (ctx: unknown) => unknown };

/**
 * Runs a pipeline definition in this process and returns what happened.
 *
 * @example
 * ```ts
 * import { expect, it } from "bun:test";
 * import { testRun } from "gantry/testing";
 * import pipeline from "./release.ts";
 *
 * it("skips the deploy when the tests fail", async () => {
 *   const run = await testRun(pipeline, { mocks: { test: { exitCode: 1, log: "1 failing" } } });
 *   expect(run).toHaveFailed();
 *   expect(run.task("deploy")).toBeSkipped();
 * });
 * ```
 */
export async function testRun(definition: PipelineDefinitionLike, options: TestRunOptions = {}): Promise<TestRun> {
  const checked = toPipelineSpec(definition);
  if (!checked.ok) {
    throw new Error(`the pipeline is not valid:\n${checked.issues.map((issue) => `  ${issue.path ? `${issue.path}: ` : ""}${issue.message}`).join("\n")}`);
  }
  const spec = checked.spec;
  const given = checkInputs(spec.inputs ?? [], options.inputs ?? {});
  if (!given.ok) throw new Error(`the inputs are not valid:\n${given.problems.map((problem) => `  ${problem.input}: ${problem.message}`).join("\n")}`);
  for (const id of [...Object.keys(options.mocks ?? {}), ...Object.keys(options.approvals ?? {})]) {
    if (!spec.tasks.some((task) => task.id === id)) throw new Error(`"${id}" is not a task of ${spec.id} (its tasks: ${spec.tasks.map((task) => task.id).join(", ")})`);
  }
  for (const id of Object.keys(options.mocks ?? {})) {
    if (spec.tasks.find((task) => task.id === id)!.kind === "approval") throw new Error(`"${id}" is an approval gate: decide it with approvals: { "${id}": "approve" } instead of a mock`);
  }
  for (const [id, decision] of Object.entries(options.approvals ?? {})) {
    if (spec.tasks.find((task) => task.id === id)!.kind !== "approval") throw new Error(`"${id}" is not an approval gate: approvals decide gates (mock other tasks)`);
    const outcome = typeof decision === "string" ? decision : decision.outcome;
    if (outcome !== "approve" && outcome !== "reject") throw new Error(`approvals.${id} must be "approve" or "reject", not ${JSON.stringify(outcome)}`);
  }
  const definitions = (definition.tasks ?? {}) as Record<string, TaskDefinition>;
  const workspace = mkdtempSync(join(tmpdir(), "gantry-test-run-"));
  const release = captureTaskOutput();
  const caches = createTestCaches(workspace);
  // A task that sets process.exitCode must not decide how the test process ends.
  const exitCode = process.exitCode;
  try {
    return await new Simulation(spec, definitions, options, given.values, workspace, caches).run();
  } finally {
    process.exitCode = exitCode ?? 0;
    release();
    caches.close();
    if (!options.keepWorkspace) rmSync(workspace, { recursive: true, force: true });
  }
}

class Simulation {
  private now = 0;
  private readonly flights = new Map<string, Flight>();
  private readonly results = new Map<string, TestTask>();
  private readonly starts: TestStart[] = [];
  /** Artifacts stored so far, as "<task>\0<name>". */
  private readonly stored = new Set<string>();
  private readonly masker: Masker;
  private readonly variables: Record<string, string>;
  private readonly noSecrets: boolean;

  constructor(
    private readonly spec: PipelineSpec,
    private readonly definitions: Record<string, TaskDefinition>,
    private readonly options: TestRunOptions,
    private readonly inputs: InputValues,
    private readonly workspace: string,
    private readonly caches: TestCaches,
  ) {
    this.masker = createMasker(Object.values(options.secrets ?? {}).filter((value) => value !== ""));
    const trigger = triggerVariables(spec, options.trigger);
    // A pull request from a fork gets no secrets, as on the server.
    this.noSecrets = trigger.fromFork;
    this.variables = { ...trigger.variables, ...options.variables };
    for (const task of spec.tasks) {
      this.results.set(task.id, {
        id: task.id,
        kind: task.kind,
        state: "pending",
        reason: null,
        exitCode: null,
        needs: task.needs,
        attempts: [],
        log: "",
        stdout: "",
        stderr: "",
        lines: [],
        output: undefined,
        artifacts: [],
        cache: undefined,
        startedAt: null,
        endedAt: null,
      });
    }
  }

  async run(): Promise<TestRun> {
    const gates = new Set(this.spec.tasks.filter((task) => task.kind === "approval").map((task) => task.id));
    for (;;) {
      const plan = planRun({ tasks: this.spec.tasks, states: this.states(), inFlight: new Set(this.flights.keys()), parallelism: this.spec.parallelism, gates });
      for (const { task, reason } of plan.skip) this.end(task, { state: "skipped", exitCode: null, reason });
      for (const id of plan.start) this.startAttempt(this.spec.tasks.find((task) => task.id === id)!, 1);
      if (plan.end) return this.result(plan.end.state, plan.end.reason);
      if (plan.start.length > 0 || plan.skip.length > 0) continue;
      if (this.flights.size === 0) {
        // Nothing in flight and nothing to start: the planner ends such a run; never expected here.
        const end = runEnd(this.states());
        return this.result(end.state, end.reason);
      }
      await this.nextEvent();
    }
  }

  /**
   * Waits for the next thing to happen: a real attempt ending, or the earliest event on the
   * clock. While real attempts run, the clock moves with them (an event due later than
   * their time so far waits); with none running, it jumps to the next event at once.
   */
  private async nextEvent(): Promise<void> {
    const at = (flight: Flight) => flight.retryAt ?? flight.endsAt!;
    for (;;) {
      const real = [...this.flights.values()].filter((flight) => flight.running);
      const timed = [...this.flights.values()].filter((flight) => flight.endsAt !== undefined || flight.retryAt !== undefined);
      const next = timed.length > 0 ? timed.reduce((first, flight) => (at(flight) < at(first) ? flight : first)) : undefined;
      const horizon = Math.min(...real.map((flight) => flight.startedAt + (performance.now() - flight.realStart!)));
      if (next && at(next) <= horizon) {
        this.now = Math.max(this.now, at(next));
        if (next.retryAt !== undefined) {
          this.flights.delete(next.task.id);
          this.startAttempt(next.task, next.attempt + 1);
        } else this.land(next, next.ended!);
        return;
      }
      const ended = real.map((flight) => flight.running!.then(() => flight));
      const settled = await Promise.race(next ? [...ended, Bun.sleep(at(next) - horizon).then(() => undefined)] : ended);
      if (settled) return this.landReal(settled);
    }
  }

  private async landReal(flight: Flight): Promise<void> {
    const outcome = await flight.running!;
    // Its time on the clock: how long it really took, from when the clock started it; or
    // longer, when it says so (a mock's delayMs, a gate's timeout): then it ends in its turn.
    const real = Math.round(performance.now() - flight.realStart!);
    if (outcome.durationMs !== undefined && outcome.durationMs > real) {
      flight.running = undefined;
      flight.ended = outcome;
      flight.endsAt = flight.startedAt + outcome.durationMs;
      return;
    }
    this.now = Math.max(this.now, flight.startedAt + real);
    this.land(flight, outcome);
  }

  private startAttempt(task: TaskSpec, attempt: number): void {
    const result = this.results.get(task.id)!;
    const flight: Flight = { task, attempt, startedAt: this.now, mocked: false };
    this.flights.set(task.id, flight);
    result.state = task.kind === "approval" ? "waiting" : "running";
    result.startedAt ??= this.now;
    this.starts.push({ task: task.id, attempt, at: this.now });
    if (attempt > 1) this.line(task.id, attempt, "gantry", `attempt ${attempt} of ${task.retries + 1}`);
    const env = this.environment(task);
    // A gate without its secrets still waits for a decision; only its autoApprove cannot run.
    if (task.kind === "approval") return this.openGate(task, flight, typeof env === "string" ? this.environment(task, false) as Record<string, string> : env, typeof env === "string" ? env : undefined);
    if (typeof env === "string") {
      if (!this.noSecrets) this.line(task.id, attempt, "gantry", `${env} (a test gives secrets in testRun's options: { secrets: { name: "value" } })`);
      return this.settle(flight, { state: "failed", exitCode: null, reason: env });
    }
    // A mock stands in for the task's inputs too: what it would take in is the test's to provide.
    const mock = this.options.mocks?.[task.id];
    if (mock !== undefined) {
      flight.mocked = true;
      if (typeof mock === "function") return this.runReal(task, flight, env, (ctx) => mock(mockContext(ctx, task.id)));
      return this.settle(flight, this.mockOutcome(task, flight, mock));
    }
    const missing = this.missingArtifact(task);
    if (missing) {
      this.line(task.id, attempt, "gantry", missing);
      return this.settle(flight, { state: "failed", exitCode: null, reason: missing });
    }
    if (task.kind === "container") {
      if (this.options.containers === "docker") {
        flight.realStart = performance.now();
        flight.running = this.restoreCache(task, attempt, env).then(() => runContainerTask(task, env, this.workspace, (stream, text) => this.line(task.id, attempt, stream, text)));
        return;
      }
      flight.mocked = true;
      const container = task.container;
      const what = container?.build ? "image build" : container?.push ? "image push" : container?.deploy ? "deploy" : `container ${container?.image ?? ""}`;
      this.line(task.id, attempt, "gantry", `${what} not run: mocked (testRun containers: "docker" runs containers)`);
      return this.settle(flight, this.mockOutcome(task, flight, {}));
    }
    const fn = this.definitions[task.id]?.fn;
    if (typeof fn !== "function") return this.settle(flight, { state: "failed", exitCode: null, reason: `task "${task.id}" has no function to run` });
    this.runReal(task, flight, env, fn, () => this.restoreCache(task, attempt, env));
  }

  /** Before a task's own code: its cache restored (or missed), as the server does. */
  private async restoreCache(task: TaskSpec, attempt: number, env: Record<string, string>): Promise<void> {
    if (!task.cache) return;
    const say = (text: string) => this.line(task.id, attempt, "gantry", text);
    try {
      this.results.get(task.id)!.cache = await this.caches.restore(task.cache, env, say);
    } catch (error) {
      say(`cache: restoring failed: ${(error as Error).message}`);
      this.results.get(task.id)!.cache = { key: task.cache.key, hit: "miss", error: (error as Error).message };
    }
  }

  /**
   * The task's environment, or why it cannot start: a secret the test did not give, or any
   * secret in a run from a fork's pull request. The server's own secrets (github-app-token)
   * are empty unless given. With `strict` off, missing secrets are left out instead.
   */
  private environment(task: TaskSpec, strict = true): Record<string, string> | string {
    const taskEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(task.env)) {
      if (typeof value === "string") {
        taskEnv[name] = value;
        continue;
      }
      const provided = isProvidedSecret(value.secret);
      if (this.noSecrets && !provided && strict) return SECRETS_WITHHELD_REASON;
      const secret = this.noSecrets ? (provided ? "" : undefined) : (this.options.secrets?.[value.secret] ?? (provided ? "" : undefined));
      if (secret === undefined) {
        if (strict) return `secret "${value.secret}" (for ${name}) does not exist`;
        continue;
      }
      taskEnv[name] = secret;
    }
    return composeTaskEnv({
      pipelineVariables: this.spec.variables,
      taskEnv,
      runVariables: this.variables,
      inputs: this.inputs,
      system: { namespace: this.options.namespace ?? "default", pipelineId: this.spec.id, run: 1, taskId: task.id, apiUrl: "", workspace: this.workspace },
    });
  }

  /** Runs a function as the task's code, its output and exit captured; a timeout aborts it on real time. */
  private runReal(task: TaskSpec, flight: Flight, env: Record<string, string>, fn: (ctx: TaskContextLike) => unknown, before?: () => Promise<void>): void {
    const controller = new AbortController();
    const write = (stream: "out" | "err", text: string) => {
      for (const line of text.replace(/\n$/, "").split("\n")) this.line(task.id, flight.attempt, stream, line);
    };
    const shell = new $.Shell();
    const cwd = task.workdir ? (task.workdir.startsWith("/") ? task.workdir : join(this.workspace, task.workdir)) : this.workspace;
    shell.cwd(cwd);
    shell.env(env);
    const ctx: TaskContextLike = {
      env: Object.freeze({ ...env }),
      inputs: Object.freeze({ ...this.inputs }),
      tasks: Object.freeze(this.taskResults()),
      log: (...parts: unknown[]) => write("out", parts.map((part) => (typeof part === "string" ? part : Bun.inspect(part))).join(" ")),
      $: capturedShell(shell, write),
      signal: controller.signal,
      attempt: flight.attempt,
      workspace: this.workspace,
      objects: noObjects,
      taskId: task.id,
    };
    flight.realStart = performance.now();
    // process.exit() ends the attempt where it is called, even from a timer the code set.
    let exit!: (code: number) => void;
    const exited = new Promise<Outcome>((resolve) => {
      exit = (code) => resolve(code === 0 ? { state: "successful", exitCode: 0, reason: null } : { state: "failed", exitCode: code, reason: `exited with code ${code}` });
    });
    // The capture stays while the code may still run, even after the test run has ended (a
    // timed-out task that goes on): its output and its exit stay its own.
    const releaseCapture = captureTaskOutput();
    const code = (async (): Promise<Outcome> => {
      try {
        await before?.();
        const returned = await inTask({ write, exit }, () => fn(ctx));
        if (flight.mocked && returned !== undefined && returned !== null) return this.mockOutcome(task, flight, typeof returned === "number" ? { exitCode: returned } : (returned as TaskMock));
        return { state: "successful", exitCode: 0, reason: null, output: returned };
      } catch (error) {
        // Its exit settled the attempt already (exited wins the race below).
        if (error instanceof TaskExit) return exited;
        const message = error instanceof Error ? error.message : String(error);
        // The kit's own frames say nothing to the pipeline's author.
        const stack = error instanceof Error && error.stack ? error.stack.split("\n").filter((line) => !/^\s+at /.test(line) || !line.includes(KIT_DIR)).join("\n") : message;
        write("err", stack);
        return { state: "failed", exitCode: 1, reason: this.masker.mask(`threw: ${message}`) };
      }
    })();
    void code.finally(releaseCapture);
    const work = Promise.race([code, exited]);
    if (task.timeoutMs === undefined) {
      flight.running = work;
      return;
    }
    const timeoutMs = task.timeoutMs;
    flight.running = new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        this.line(task.id, flight.attempt, "gantry", `timed out after ${formatDuration(timeoutMs)}; stopping`);
        controller.abort(new DOMException(`timed out after ${formatDuration(timeoutMs)}`, "TimeoutError"));
        // The code has a moment to stop on its signal, as the server gives it a grace period.
        void Promise.race([work, Bun.sleep(100)]).then(() => resolve({ state: "failed", exitCode: null, reason: timedOutReason(timeoutMs) }));
      }, timeoutMs);
      void work.then((outcome) => {
        if (controller.signal.aborted) return;
        clearTimeout(timer);
        resolve(outcome);
      });
    });
  }

  private mockOutcome(task: TaskSpec, flight: Flight, mock: TaskMock): Outcome {
    const lines = (value: string | string[] | undefined) => (value === undefined ? [] : Array.isArray(value) ? value : value.split("\n"));
    for (const line of lines(mock.log)) this.line(task.id, flight.attempt, "out", line);
    for (const line of lines(mock.stderr)) this.line(task.id, flight.attempt, "err", line);
    const exitCode = mock.exitCode ?? 0;
    if (task.timeoutMs !== undefined && (mock.delayMs ?? 0) > task.timeoutMs) {
      this.line(task.id, flight.attempt, "gantry", `timed out after ${formatDuration(task.timeoutMs)}; stopping`);
      return { state: "failed", exitCode: null, reason: timedOutReason(task.timeoutMs), durationMs: task.timeoutMs };
    }
    const durationMs = mock.delayMs !== undefined ? { durationMs: mock.delayMs } : {};
    return exitCode === 0 ? { state: "successful", exitCode: 0, reason: null, output: mock.output, ...durationMs } : { state: "failed", exitCode, reason: `exited with code ${exitCode}`, ...durationMs };
  }

  /** An attempt whose outcome is known now: it ends when its duration on the clock is up. */
  private settle(flight: Flight, outcome: Outcome): void {
    flight.ended = outcome;
    flight.endsAt = this.now + (outcome.durationMs ?? 0);
  }

  /**
   * A gate, as the server decides it: its autoApprove first (true approves); otherwise it waits
   * for a decision, the test's (at once) or, with none, its timeout's (on the run's clock).
   */
  private openGate(task: TaskSpec, flight: Flight, env: Record<string, string>, envProblem: string | undefined): void {
    const spec = task.approval!;
    const say = (text: string) => this.line(task.id, flight.attempt, "gantry", text);
    /** The decision once the gate waits, `waitedFrom` ms after the attempt started. */
    const decision = (waitedFrom: number, note?: string): Outcome => {
      const gate = waitingGate(spec, new Date(this.now + waitedFrom), env, note);
      say(`waiting for approval${gate.message ? `: ${gate.message}` : ""}`);
      const given = this.options.approvals?.[task.id];
      let decided: GateDecision;
      let after = waitedFrom;
      if (given !== undefined) {
        const choice = typeof given === "string" ? { outcome: given, by: undefined, comment: undefined } : given;
        decided = { outcome: choice.outcome === "approve" ? "approved" : "rejected", by: choice.by || "the test", at: gate.waitingSince, ...(choice.comment && { comment: choice.comment }) };
      } else {
        decided = timeoutDecision(gate);
        after += spec.timeoutMs;
      }
      const end = decisionEnd(decided, gate);
      say(end.reason);
      return { state: end.state, exitCode: null, reason: end.reason, durationMs: after };
    };
    const autoApprove = this.definitions[task.id]?.autoApprove;
    if (typeof autoApprove !== "function" || envProblem !== undefined) {
      if (typeof autoApprove === "function") say(`autoApprove could not run: ${envProblem}`);
      return this.settle(flight, decision(0, envProblem !== undefined && typeof autoApprove === "function" ? `autoApprove could not run: ${envProblem}` : undefined));
    }
    say("asking autoApprove");
    this.runReal(task, flight, env, (ctx) => autoApprove(ctx));
    const asked = flight.running!;
    flight.running = asked.then((outcome): Outcome => {
      const took = Math.round(performance.now() - flight.realStart!);
      if (outcome.state === "successful" && outcome.output === true) {
        const end = decisionEnd({ outcome: "approved", by: "autoApprove", at: new Date(this.now + took).toISOString(), auto: "autoApprove", comment: "autoApprove returned true" });
        say(end.reason);
        return { state: end.state, exitCode: null, reason: end.reason };
      }
      const note = outcome.state === "successful" ? "autoApprove returned false" : `autoApprove failed (${outcome.reason})`;
      say(`${note}; a person decides`);
      return decision(took, note);
    });
  }

  /**
   * Why an artifact the task takes in is not there: one of this run's tasks stores it when it
   * succeeds (and the run's one workspace has its files then); a test run has no other run's.
   */
  private missingArtifact(task: TaskSpec): string | undefined {
    for (const { name, from } of task.artifacts?.in ?? []) {
      if ("task" in from) {
        if (!this.stored.has(`${from.task}\u0000${name}`)) return `artifact "${name}" of run 1 does not exist (task ${from.task} stores it when it succeeds)`;
      } else {
        return `artifact "${from.name}" of ${from.run === "latest-successful" ? "the latest successful run" : `run ${from.run}`} does not exist: a test run has only its own run's artifacts (mock task ${task.id})`;
      }
    }
    return undefined;
  }

  /**
   * After a success, the artifacts the task stores: each path must be in the workspace, as the
   * server packs it; a mocked task stores nothing real, so its artifacts count as stored.
   */
  private storeArtifacts(task: TaskSpec, outcome: Outcome, mocked: boolean): Outcome {
    if (outcome.state !== "successful" || !task.artifacts) return outcome;
    for (const { name, path } of mocked ? [] : task.artifacts.out) {
      if (!existsSync(join(this.workspace, path))) return { state: "failed", exitCode: outcome.exitCode, reason: `artifact "${name}": ${path} does not exist in the workspace` };
    }
    for (const { name } of task.artifacts.out) this.stored.add(`${task.id}\u0000${name}`);
    this.results.get(task.id)!.artifacts = task.artifacts.out.map((artifact) => artifact.name);
    return outcome;
  }

  /** An attempt ended: the task ends, or waits to retry. */
  private land(flight: Flight, landed: Outcome): void {
    const { task, attempt } = flight;
    const result = this.results.get(task.id)!;
    const outcome = this.storeArtifacts(task, landed, flight.mocked);
    if (outcome !== landed && outcome.reason) this.line(task.id, attempt, "gantry", outcome.reason);
    if (outcome.state === "successful" && !flight.mocked && task.cache && result.cache) {
      this.caches.save(task.cache, result.cache, (text) => this.line(task.id, attempt, "gantry", text));
    }
    const row: TestAttempt = { attempt, state: outcome.state, exitCode: outcome.exitCode, reason: outcome.reason, startedAt: flight.startedAt, endedAt: this.now, mocked: flight.mocked };
    if (task.kind !== "approval") result.attempts.push(row);
    result.exitCode = outcome.exitCode;
    if (outcome.output !== undefined) result.output = outcome.output;
    const retry = outcome.state === "failed" && task.kind !== "approval" && attempt < task.retries + 1;
    if (retry) {
      const wait = retryDelayMs(task.retryDelay, attempt);
      this.line(task.id, attempt, "gantry", `attempt ${attempt} failed: ${outcome.reason}; retrying${wait > 0 ? ` in ${formatDuration(wait)}` : ""}`);
      this.flights.set(task.id, { ...flight, running: undefined, ended: undefined, endsAt: undefined, retryAt: this.now + wait });
      return;
    }
    if (outcome.state === "failed" && task.kind !== "approval") this.line(task.id, attempt, "gantry", `failed: ${outcome.reason}`);
    this.flights.delete(task.id);
    this.end(task.id, outcome);
  }

  /** Each task's state, as the planner reads them. */
  private states(): Map<string, TaskState> {
    return new Map([...this.results].map(([id, result]) => [id, result.state]));
  }

  private end(taskId: string, outcome: { state: TaskState; exitCode: number | null; reason: string | null }): void {
    const result = this.results.get(taskId)!;
    result.state = outcome.state;
    result.reason = outcome.reason;
    result.exitCode = outcome.exitCode;
    result.endedAt = this.now;
  }

  /** How the run's ended tasks ended, as autoApprove's ctx.tasks gets them on the server. */
  private taskResults(): Record<string, { state: string; exitCode: number | null }> {
    const done: Record<string, { state: string; exitCode: number | null }> = {};
    for (const [id, { state, exitCode }] of this.results) if (isFinalTaskState(state)) done[id] = { state, exitCode };
    return done;
  }

  private line(taskId: string, attempt: number, stream: LogStream, text: string): void {
    this.results.get(taskId)!.lines.push({ stream, text: this.masker.mask(text), attempt });
  }

  private result(state: TestRun["state"], reason: string | null): TestRun {
    const tasks = this.spec.tasks.map((task) => {
      const result = this.results.get(task.id)!;
      const text = (streams: LogStream[]) => result.lines.filter((line) => streams.includes(line.stream)).map((line) => line.text).join("\n");
      return { ...result, log: text(["out", "err", "gantry"]), stdout: text(["out"]), stderr: text(["err"]) };
    });
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const width = Math.max(...tasks.map((task) => task.id.length));
    const order: string[] = [];
    for (const start of this.starts) if (!order.includes(start.task)) order.push(start.task);
    const run: TestRun = {
      pipeline: this.spec.id,
      state,
      reason,
      durationMs: Math.max(0, ...tasks.map((task) => task.endedAt ?? 0)),
      tasks,
      order,
      starts: this.starts,
      log: tasks.flatMap((task) => task.lines.map((line) => `${task.id.padEnd(width)} │ ${line.text}`)).join("\n"),
      workspace: this.workspace,
      task(id) {
        const found = byId.get(id);
        if (!found) throw new Error(`"${id}" is not a task of ${run.pipeline} (its tasks: ${[...byId.keys()].join(", ")})`);
        return found;
      },
      describe: () => describeRun(run),
    };
    return run;
  }
}

/** Where the kit's files are: frames from them are left out of a task's stack trace. */
const KIT_DIR = import.meta.dir;

/** A run() task's context, as the server's runner builds it (ctx.tasks included). */
interface TaskContextLike {
  env: Readonly<Record<string, string>>;
  inputs: Readonly<InputValues>;
  tasks: Readonly<Record<string, { state: string; exitCode: number | null }>>;
  log: (...parts: unknown[]) => void;
  $: typeof $;
  signal: AbortSignal;
  attempt: number;
  workspace: string;
  objects: typeof noObjects;
  taskId: string;
}

function mockContext(ctx: TaskContextLike, taskId: string): MockContext {
  return { env: ctx.env, inputs: ctx.inputs, attempt: ctx.attempt, workspace: ctx.workspace, signal: ctx.signal, log: ctx.log, taskId };
}

/** ctx.objects in a test run: there is no server to keep objects; each call says so. */
const noObjects = new Proxy(
  {},
  {
    get: (_target, name) => () => Promise.reject(new Error(`ctx.objects.${String(name)}: a test run has no object store (mock the task, or keep objects out of what you test)`)),
  },
);
