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
import { composeTaskEnv } from "../domain/task-env.ts";
import { runContainerTask } from "./container-task.ts";
import { describeRun, type LogStream, type TestAttempt, type TestRun, type TestStart, type TestTask } from "./run-result.ts";
import { captureTaskOutput, inTask, TaskExit } from "./task-capture.ts";
import { triggerVariables, type TestTrigger } from "./trigger-variables.ts";

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
  const definitions = (definition.tasks ?? {}) as Record<string, TaskDefinition>;
  const workspace = mkdtempSync(join(tmpdir(), "gantry-test-run-"));
  const release = captureTaskOutput();
  try {
    return await new Simulation(spec, definitions, options, given.values, workspace).run();
  } finally {
    release();
    if (!options.keepWorkspace) rmSync(workspace, { recursive: true, force: true });
  }
}

class Simulation {
  private now = 0;
  private readonly states = new Map<string, TaskState>();
  private readonly flights = new Map<string, Flight>();
  private readonly results = new Map<string, TestTask>();
  private readonly starts: TestStart[] = [];
  /** Artifacts stored so far, as "<task>\0<name>". */
  private readonly stored = new Set<string>();
  private readonly masker: Masker;
  private readonly variables: Record<string, string>;

  constructor(
    private readonly spec: PipelineSpec,
    private readonly definitions: Record<string, TaskDefinition>,
    private readonly options: TestRunOptions,
    private readonly inputs: InputValues,
    private readonly workspace: string,
  ) {
    this.masker = createMasker(Object.values(options.secrets ?? {}).filter((value) => value !== ""));
    this.variables = { ...triggerVariables(spec, options.trigger), ...options.variables };
    for (const task of spec.tasks) {
      this.states.set(task.id, "pending");
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
        startedAt: null,
        endedAt: null,
      });
    }
  }

  async run(): Promise<TestRun> {
    const gates = new Set(this.spec.tasks.filter((task) => task.kind === "approval").map((task) => task.id));
    for (;;) {
      const plan = planRun({ tasks: this.spec.tasks, states: this.states, inFlight: new Set(this.flights.keys()), parallelism: this.spec.parallelism, gates });
      for (const { task, reason } of plan.skip) this.end(task, { state: "skipped", exitCode: null, reason });
      for (const id of plan.start) this.startAttempt(this.spec.tasks.find((task) => task.id === id)!, 1);
      if (plan.end) return this.result(plan.end.state, plan.end.reason);
      if (plan.start.length > 0 || plan.skip.length > 0) continue;
      if (this.flights.size === 0) {
        // Nothing in flight and nothing to start: the planner ends such a run; never expected here.
        const end = runEnd(this.states);
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
    // Its time on the clock: how long it really took, from when the clock started it.
    this.now = Math.max(this.now, flight.startedAt + Math.round(performance.now() - flight.realStart!));
    this.land(flight, outcome);
  }

  private startAttempt(task: TaskSpec, attempt: number): void {
    const result = this.results.get(task.id)!;
    const flight: Flight = { task, attempt, startedAt: this.now, mocked: false };
    this.flights.set(task.id, flight);
    this.states.set(task.id, task.kind === "approval" ? "waiting" : "running");
    result.state = this.states.get(task.id)!;
    result.startedAt ??= this.now;
    this.starts.push({ task: task.id, attempt, at: this.now });
    if (attempt > 1) this.line(task.id, attempt, "gantry", `attempt ${attempt} of ${task.retries + 1}`);
    const env = this.environment(task);
    if (typeof env === "string") {
      this.line(task.id, attempt, "gantry", `${env} (a test gives secrets in testRun's options: { secrets: { name: "value" } })`);
      flight.ended = { state: "failed", exitCode: null, reason: env };
      flight.endsAt = this.now;
      return;
    }
    if (task.kind === "approval") return this.openGate(task, flight, env);
    const missing = this.missingArtifact(task);
    if (missing) {
      this.line(task.id, attempt, "gantry", missing);
      flight.ended = { state: "failed", exitCode: null, reason: missing };
      flight.endsAt = this.now;
      return;
    }
    const mock = this.options.mocks?.[task.id];
    if (mock !== undefined) {
      flight.mocked = true;
      if (typeof mock === "function") return this.runReal(task, flight, env, (ctx) => mock(mockContext(ctx, task.id)));
      return this.settleMock(task, flight, mock);
    }
    if (task.kind === "container") {
      if (this.options.containers === "docker") {
        flight.realStart = performance.now();
        flight.running = runContainerTask(task, env, this.workspace, (stream, text) => this.line(task.id, attempt, stream, text));
        return;
      }
      flight.mocked = true;
      const container = task.container;
      const what = container?.build ? "image build" : container?.push ? "image push" : container?.deploy ? "deploy" : `container ${container?.image ?? ""}`;
      this.line(task.id, attempt, "gantry", `${what} not run: mocked (testRun containers: "docker" runs containers)`);
      return this.settleMock(task, flight, {});
    }
    const fn = this.definitions[task.id]?.fn;
    if (typeof fn !== "function") {
      flight.ended = { state: "failed", exitCode: null, reason: `task "${task.id}" has no function to run` };
      flight.endsAt = this.now;
      return;
    }
    this.runReal(task, flight, env, fn);
  }

  /** The task's environment, or why it cannot start (a secret the test did not give). */
  private environment(task: TaskSpec): Record<string, string> | string {
    const taskEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(task.env)) {
      if (typeof value === "string") taskEnv[name] = value;
      else {
        const secret = this.options.secrets?.[value.secret];
        if (secret === undefined) return `secret "${value.secret}" (for ${name}) does not exist`;
        taskEnv[name] = secret;
      }
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
  private runReal(task: TaskSpec, flight: Flight, env: Record<string, string>, fn: (ctx: TaskContextLike) => unknown): void {
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
    const work = (async (): Promise<Outcome> => {
      try {
        const returned = await inTask({ write }, () => fn(ctx));
        if (flight.mocked && returned !== undefined && returned !== null) return this.mockOutcome(task, flight, typeof returned === "number" ? { exitCode: returned } : (returned as TaskMock));
        return { state: "successful", exitCode: 0, reason: null, output: returned };
      } catch (error) {
        if (error instanceof TaskExit) return error.code === 0 ? { state: "successful", exitCode: 0, reason: null } : { state: "failed", exitCode: error.code, reason: `exited with code ${error.code}` };
        const message = error instanceof Error ? error.message : String(error);
        // The kit's own frames say nothing to the pipeline's author.
        const stack = error instanceof Error && error.stack ? error.stack.split("\n").filter((line) => !/^\s+at /.test(line) || !line.includes(KIT_DIR)).join("\n") : message;
        write("err", stack);
        return { state: "failed", exitCode: 1, reason: this.masker.mask(`threw: ${message}`) };
      }
    })();
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
      return { state: "failed", exitCode: null, reason: timedOutReason(task.timeoutMs) };
    }
    return exitCode === 0 ? { state: "successful", exitCode: 0, reason: null, output: mock.output } : { state: "failed", exitCode, reason: `exited with code ${exitCode}` };
  }

  private settleMock(task: TaskSpec, flight: Flight, mock: TaskMock): void {
    flight.ended = this.mockOutcome(task, flight, mock);
    const delay = mock.delayMs ?? 0;
    flight.endsAt = this.now + (task.timeoutMs !== undefined ? Math.min(delay, task.timeoutMs) : delay);
  }

  /** A gate: decided by the test, else by its autoApprove, else by its timeout (at once, on the clock). */
  private openGate(task: TaskSpec, flight: Flight, env: Record<string, string>): void {
    const spec = task.approval!;
    const gate = waitingGate(spec, new Date(this.now), env);
    this.line(task.id, flight.attempt, "gantry", `waiting for approval${gate.message ? `: ${gate.message}` : ""}`);
    const given = this.options.approvals?.[task.id];
    const decide = (decision: GateDecision, at: number): void => {
      const end = decisionEnd(decision, gate);
      this.line(task.id, flight.attempt, "gantry", end.reason);
      flight.ended = { state: end.state, exitCode: null, reason: end.reason };
      flight.endsAt = at;
    };
    if (given !== undefined) {
      const choice = typeof given === "string" ? { outcome: given } : given;
      const by = (typeof given === "object" && given.by) || "the test";
      const comment = typeof given === "object" ? given.comment : undefined;
      return decide({ outcome: choice.outcome === "approve" ? "approved" : "rejected", by, at: new Date(this.now).toISOString(), ...(comment && { comment }) }, this.now);
    }
    const autoApprove = this.definitions[task.id]?.autoApprove;
    const byTimeout = () => decide(timeoutDecision(gate), this.now + spec.timeoutMs);
    if (typeof autoApprove !== "function") return byTimeout();
    // autoApprove runs as a run() task does; true approves, anything else leaves it to the timeout here.
    this.runReal(task, flight, env, (ctx) => autoApprove(ctx));
    const asked = flight.running!;
    flight.running = asked.then((outcome): Outcome => {
      if (outcome.state === "successful" && outcome.output === true) {
        const end = decisionEnd({ outcome: "approved", by: "autoApprove", at: new Date(this.now).toISOString(), auto: "autoApprove", comment: "autoApprove returned true" }, gate);
        this.line(task.id, flight.attempt, "gantry", end.reason);
        return { state: end.state, exitCode: null, reason: end.reason };
      }
      const timeout = decisionEnd(timeoutDecision(gate), gate);
      this.line(task.id, flight.attempt, "gantry", timeout.reason);
      return { state: timeout.state, exitCode: null, reason: timeout.reason };
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

  /** After a success, the artifacts the task stores: each path must be in the workspace, as the server packs it. */
  private storeArtifacts(task: TaskSpec, outcome: Outcome): Outcome {
    if (outcome.state !== "successful" || !task.artifacts) return outcome;
    for (const { name, path } of task.artifacts.out) {
      if (!existsSync(join(this.workspace, path))) return { state: "failed", exitCode: outcome.exitCode, reason: `artifact "${name}": ${path} does not exist in the workspace` };
    }
    for (const { name } of task.artifacts.out) this.stored.add(`${task.id}\u0000${name}`);
    this.results.get(task.id)!.artifacts = task.artifacts.out.map((artifact) => artifact.name);
    return outcome;
  }

  /** An attempt ended: the task ends, or waits to retry. */
  private land(flight: Flight, landed: Outcome): void {
    const { task, attempt } = flight;
    // A mocked task stores nothing real: its artifacts count as stored.
    const outcome = flight.mocked ? this.markMockedArtifacts(task, landed) : this.storeArtifacts(task, landed);
    if (outcome !== landed && outcome.reason) this.line(task.id, attempt, "gantry", outcome.reason);
    const result = this.results.get(task.id)!;
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

  private markMockedArtifacts(task: TaskSpec, outcome: Outcome): Outcome {
    if (outcome.state === "successful") for (const { name } of task.artifacts?.out ?? []) this.stored.add(`${task.id}\u0000${name}`);
    return outcome;
  }

  private end(taskId: string, outcome: { state: TaskState; exitCode: number | null; reason: string | null }): void {
    this.states.set(taskId, outcome.state);
    const result = this.results.get(taskId)!;
    result.state = outcome.state;
    result.reason = outcome.reason;
    result.exitCode = outcome.exitCode;
    result.endedAt = this.now;
  }

  /** How the run's ended tasks ended, as autoApprove's ctx.tasks gets them on the server. */
  private taskResults(): Record<string, { state: string; exitCode: number | null }> {
    const done: Record<string, { state: string; exitCode: number | null }> = {};
    for (const [id, state] of this.states) if (isFinalTaskState(state)) done[id] = { state, exitCode: this.results.get(id)!.exitCode };
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

/** What ShellPromise methods take the output for the caller (nothing is printed then). */
const SHELL_READERS = ["text", "json", "blob", "lines", "arrayBuffer", "bytes", "quiet"];

/**
 * ctx.$ whose commands' output lands in the task's log, as a runner process's stdout would:
 * each command runs quietly and what it printed is written to the log when it ends, unless
 * the caller reads it (.text(), .json(), .quiet()…), which prints nothing on the server either.
 */
function capturedShell(shell: InstanceType<typeof $.Shell>, write: (stream: "out" | "err", text: string) => void): typeof $ {
  const logged = (output: { stdout?: Buffer; stderr?: Buffer } | undefined) => {
    const out = output?.stdout?.toString() ?? "";
    const err = output?.stderr?.toString() ?? "";
    if (out) write("out", out);
    if (err) write("err", err);
  };
  const run = (strings: TemplateStringsArray, ...values: unknown[]) => {
    const promise = (shell as unknown as typeof $)(strings, ...(values as never[])).quiet();
    let printed = true;
    for (const name of SHELL_READERS) {
      const methods = promise as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
      const original = methods[name]?.bind(promise);
      if (!original) continue;
      methods[name] = (...args: unknown[]) => {
        printed = false;
        return original(...args);
      };
    }
    promise.then(
      (output) => printed && logged(output),
      (error: { stdout?: Buffer; stderr?: Buffer }) => printed && logged(error),
    );
    return promise;
  };
  // $.escape, $.braces, $.cwd()… are the shell's own.
  return Object.setPrototypeOf(run, shell) as typeof $;
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
