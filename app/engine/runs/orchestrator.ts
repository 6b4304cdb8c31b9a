// The run engine's facade: the verbs routes, triggers and the CLI call (start, re-run,
// cancel, pause, resume), the node's start and stop, and idle() for tests and `gantry dev`.
// The database decides; this process drives the runs it holds leases on.
import { releaseNode } from "../../db/repos/nodes.ts";
import type { RunWithTasks } from "../../db/repos/runs.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { createLimiter } from "../limiter.ts";
import { admitRuns } from "./admit-runs.ts";
import { actOnCancel, cancelRun } from "./cancel-run.ts";
import { createRun, type StartRunOptions } from "./create-run.ts";
import { startDriving } from "./drive-run.ts";
import { createEngineContext, type EngineContext, type EngineOptions } from "./engine-context.ts";
import { startHeartbeat, startNodeLoop, type Heartbeat, type NodeLoop } from "./node-loop.ts";
import { claimNodeId, type NodeClaimOptions } from "../node-identity.ts";
import { pauseRuns, resumeRuns, systemStatus, type SystemStatus } from "./pause-runs.ts";
import { recoverRuns } from "./recover-runs.ts";
import { rerunRun, type RerunOptions } from "./rerun-run.ts";
import { decideApproval, type ApprovalDecision } from "./decide-approval.ts";

export type { StartRunOptions } from "./create-run.ts";
export type { RerunOptions } from "./rerun-run.ts";
export type { SystemStatus } from "./pause-runs.ts";
export type { ApprovalDecision } from "./decide-approval.ts";
export type { EngineOptions, IssuedToken, RunTokenIssuer } from "./engine-context.ts";

export interface Orchestrator {
  readonly nodeId: string;
  /**
   * Claims the node id for this process, first thing at start, and begins the heartbeat;
   * says why not when another live server holds it (see claimNodeId).
   */
  claimNode(options?: Pick<NodeClaimOptions, "watchPollMs">): Promise<string | undefined>;
  /**
   * Settles with the reason once this process lost its node id to another (it stalled past
   * its lease): the engine has stopped driving runs by then, and the server should stop.
   */
  readonly lost: Promise<string>;
  startRun(key: PipelineKey, options: StartRunOptions): Promise<RunWithTasks>;
  rerunRun(key: RunKey, options: RerunOptions): Promise<RunWithTasks>;
  cancelRun(key: RunKey, by?: string): Promise<void>;
  /** Approves or rejects a waiting approval gate, by the gate's rules of who may. */
  decideApproval(key: RunKey, task: string, decision: ApprovalDecision): Promise<void>;
  pause(by?: string): Promise<SystemStatus>;
  resume(by?: string): Promise<SystemStatus>;
  systemStatus(): Promise<SystemStatus>;
  /**
   * Takes back the runs the node's previous process left in flight (and any whose lease
   * lapsed), lets the queue start and begins looking for work. Returns how many runs it
   * resumed. After claimNode.
   */
  start(): Promise<{ resumed: number }>;
  /** Whether this process drives the run. */
  isActive(key: RunKey): boolean;
  /** Resolves when no run is driven here and no admission is under way (tests, `gantry dev`). */
  idle(): Promise<void>;
  /**
   * Stops the engine. "detach" (a server stopping): containers keep running and the next
   * start takes them back; run() tasks, which cannot outlive it, are stopped. "cancel"
   * (`gantry dev`, tests): every run here is cancelled and waited for.
   */
  shutdown(mode?: "detach" | "cancel"): Promise<void>;
}

export function createOrchestrator(options: EngineOptions): Orchestrator {
  let idleWaiters: (() => void)[] = [];
  let admitting = 0;
  let admission: Promise<void> = Promise.resolve();
  let loop: NodeLoop | undefined;
  let heartbeat: Heartbeat | undefined;
  let loseNode!: (reason: string) => void;
  const lost = new Promise<string>((resolve) => (loseNode = resolve));
  const isIdle = () => ctx.active.size === 0 && ctx.finishing === 0 && admitting === 0;
  const checkIdle = () => {
    if (!isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };
  const cancelHere = (key: RunKey, reason: string) => actOnCancel(ctx, key, reason);
  const ctx: EngineContext = createEngineContext(options, createLimiter(options.maxParallelTasks), {
    checkIdle,
    drive: (row, driveOptions) => startDriving(ctx, row, driveOptions?.recovered ?? false),
    // Passes run one at a time here: two at once would only find each other's work.
    admit(keys) {
      admitting++;
      const pass = admission.then(() => admitRuns(ctx, keys, cancelHere));
      admission = pass.catch((error) => {
        if (!ctx.stopped) console.error("engine: admission failed:", error);
      });
      return admission.finally(() => {
        admitting--;
        checkIdle();
      });
    },
  });

  /** Stops driving: containers are left running for whoever drives their runs next, run() tasks stop. */
  const letGoOfAll = () => {
    ctx.stopped = true;
    for (const run of ctx.active.values()) {
      for (const handle of run.handles.values()) handle.detach(ctx.killGraceMs);
      // A wait for a retry ends here; its stored retry time is waited out by the next process.
      for (const wake of run.retryWaits) wake();
      // So does a gate's wait: the next process waits out what is left of its timeout.
      for (const wake of run.gateWaits.values()) wake();
    }
    ctx.active.clear();
  };

  return {
    nodeId: options.node.id,
    lost,
    async claimNode(claimOptions = {}) {
      const problem = await claimNodeId(ctx.db, ctx.node, { leaseMs: ctx.leaseMs, now: ctx.now, ...claimOptions });
      if (problem) return problem;
      heartbeat = startHeartbeat(ctx, (reason) => {
        // Another process drives this node's runs now: nothing more is done or written here.
        console.error(`engine: STOPPED: ${reason}; this process drives no runs any more`);
        loop?.stop();
        letGoOfAll();
        checkIdle();
        loseNode(reason);
      });
      return undefined;
    },
    startRun: (key, start) => createRun(ctx, key, start, cancelHere),
    rerunRun: (key, rerun) => rerunRun(ctx, key, rerun, cancelHere),
    cancelRun: (key, by) => cancelRun(ctx, key, by),
    decideApproval: (key, task, decision) => decideApproval(ctx, key, task, decision),
    pause: (by) => pauseRuns(ctx, by),
    resume: (by) => resumeRuns(ctx, by),
    systemStatus: () => systemStatus(ctx),
    async start() {
      if (!heartbeat) throw new Error("engine: start() before claimNode()");
      for (const executor of Object.values(ctx.executors)) executor?.repair?.();
      const resumed = await recoverRuns(ctx, true);
      await ctx.admit();
      loop = startNodeLoop(ctx, cancelHere);
      for (const executor of Object.values(ctx.executors)) executor?.warm?.();
      return { resumed };
    },
    isActive: (key) => ctx.active.has(runKeyString(key)),
    async idle() {
      if (!isIdle()) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      // And what ended attempts left is removed (a `gantry dev` that exits now leaves no container).
      await Promise.all([...ctx.cleanups]);
    },
    async shutdown(mode = "detach") {
      loop?.stop();
      if (mode === "cancel") {
        ctx.draining = true;
        await Promise.all([...ctx.active.values()].map((run) => cancelRun(ctx, run.key, "server shutdown").catch(() => undefined)));
        if (!isIdle()) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
      heartbeat?.stop();
      letGoOfAll();
      for (const executor of Object.values(ctx.executors)) executor?.close?.();
      await releaseNode(ctx.db, ctx.node, ctx.now()).catch(() => undefined);
      checkIdle();
    },
  };
}
