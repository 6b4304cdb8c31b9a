// What every verb of the run engine shares: the database and stores, this node and its
// leases, the executors, the global task slots, the runs this process drives, and the
// two hooks that join the verbs (admission starts runs; a run's end admits the next).
import type { Db } from "../../db/client.ts";
import { runEvent, type NewEvent } from "../../db/repos/events.ts";
import { getVersion, type VersionRow } from "../../db/repos/pipelines.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { Resource } from "../../domain/permissions.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { LogStore } from "../../stores/logs.ts";
import type { EventBus } from "../event-bus.ts";
import type { Executor, ExecutorKind } from "../executors/executor.ts";
import type { Limiter } from "../limiter.ts";
import type { DrivenRun } from "./driven-run.ts";
import type { RunWithTasks } from "../../db/repos/runs.ts";
import type { TaskFiles } from "../task-files/index.ts";

export interface IssuedToken {
  id: string;
  secret: string;
  /** Settles once the token is stored; the secret is known (and usable by a task about to start) before. */
  stored: Promise<void>;
}

export interface RunTokenIssuer {
  /**
   * A token for one task of one run (or, with `resource`, for that resource of the run's
   * pipeline alone); revoked by `revoke` when the run ends.
   */
  issue(run: RunKey, task: string, resource?: Resource | "*"): IssuedToken;
  /**
   * The run's bundle token (scope "bundle"): reads the run's bundle over the API and nothing
   * else, for a runner that fetches it (a swarm service); revoked with the run's other tokens.
   */
  issueBundle?(run: RunKey): IssuedToken;
  revoke(ids: string[]): Promise<void>;
  /** Revokes every token issued to the run (also by an earlier process, whose ids are not known). */
  revokeRun(run: RunKey): Promise<void>;
}

/** What a task's run tells the extension asked for a token (the SDK's TokenRequest). */
export interface ProvidedTokenRequest {
  namespace: string;
  pipeline: string;
  run: number;
  secret: string;
  variables: Record<string, string>;
}

/** This server as a node of the engine. */
export interface EngineNode {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  /** Random, one per process: the id is claimed and heartbeats are made under it. */
  instance: string;
  /** Where `pid` means something (the boot and pid namespace), "" when unknown. */
  pidScope: string;
}

export interface EngineOptions {
  db: Db;
  bus: EventBus;
  logs: LogStore;
  /** By the kind stored with an attempt; "swarm" is there whenever Docker is, so attempts made under either setting are found again. */
  executors: Partial<Record<ExecutorKind, Executor>>;
  /** What runs new container() tasks (not builds, pushes or deploys): "container" (the Docker engine, the default) or "swarm". */
  containerExecutor?: "container" | "swarm";
  /** What runs new run() tasks: "run" (the server's sandbox, the default) or "swarm" (services of the runner image). */
  runExecutor?: "run" | "swarm";
  /** This server's node in the cluster the swarm executor places tasks on (undefined when its engine is none). */
  serverNode?: () => Promise<string | undefined>;
  workspacesDir: string;
  /** Hands a new run workspace to whoever runs its tasks (the sandbox user); open to all (0777) when absent. */
  ownWorkspace?: (path: string) => Promise<void>;
  /** Hands what a container wrote (or a re-run copied) in a workspace back to whoever runs the next tasks. */
  reclaimWorkspace?: (path: string) => Promise<void>;
  maxParallelTasks: number;
  /** How long a cancelled task has between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** The same for a task stopped at its timeout; killGraceMs when absent. */
  timeoutGraceMs?: number;
  apiUrl: () => string;
  node: EngineNode;
  /** How long a node's claims hold without a heartbeat (renewed at a third of it). */
  leaseMs: number;
  /** How often the node looks for work others asked of it (cancels, the queue, lapsed leases). */
  pollMs?: number;
  /** Resolves `secret("name")` for a pipeline; undefined when it does not exist. */
  resolveSecret?: (pipeline: PipelineKey, name: string) => Promise<string | undefined>;
  /**
   * Asks an extension for a short-lived credential behind a reserved secret name (the github
   * extension: an installation token for `secret("github-app-token")`); undefined when it has
   * none for the run. Rejects when the extension fails to answer.
   */
  provideToken?: (extension: string, request: ProvidedTokenRequest) => Promise<string | undefined>;
  tokens?: RunTokenIssuer;
  /** What the server does around a task's attempts: artifacts, caches, findings. */
  taskFiles?: TaskFiles;
  /** Called once a run has ended and its end is published (expires old run objects; after a takeover, sweeps its containers). */
  afterRun?: (key: RunKey, info: { recovered: boolean }) => Promise<unknown>;
  now?: () => Date;
}

export interface EngineContext extends EngineOptions {
  now: () => Date;
  limiter: Limiter;
  /** Runs this process drives, by runKeyString. */
  active: Map<string, DrivenRun>;
  /** Set once the engine stops: nothing more is written, in-flight work is left to the next process. */
  stopped: boolean;
  /** Set while the engine cancels its runs to stop: nothing new is admitted or started. */
  draining: boolean;
  /** Runs that have ended but are still revoking their tokens and the like. */
  finishing: number;
  /** Removals of what ended attempts left (their containers), not waited for by their runs: idle() waits for them. */
  cleanups: Set<Promise<void>>;
  /** Called whenever the engine may have gone idle. */
  checkIdle(): void;
  publish(kind: string, key: RunKey, task?: string): void;
  /** An event of the run (or of a task) at the current time. */
  event(kind: EventKind, key: RunKey, data: Record<string, unknown>, task?: string): NewEvent;
  leaseUntil(): Date;
  /** A version, kept parsed (versions never change once stored). */
  version(key: PipelineKey, number: number): Promise<VersionRow | undefined>;
  /** Starts driving a run this node was admitted or took over. */
  drive(run: RunWithTasks, options?: { recovered?: boolean }): Promise<void>;
  /** Admits what may start among the queues of these keys (all queues when absent). */
  admit(keys?: readonly (string | null)[]): Promise<void>;
}

const VERSION_CACHE_SIZE = 256;

/** The context the facade builds; `drive` and `admit` are joined in by it. */
export function createEngineContext(options: EngineOptions, limiter: Limiter, hooks: Pick<EngineContext, "drive" | "admit" | "checkIdle">): EngineContext {
  const now = options.now ?? (() => new Date());
  const versions = new Map<string, VersionRow>();
  return {
    ...options,
    ...hooks,
    now,
    limiter,
    active: new Map(),
    stopped: false,
    draining: false,
    finishing: 0,
    cleanups: new Set(),
    publish(kind, key, task) {
      options.bus.publish({ kind, namespace: key.namespace, pipeline: key.id, run: key.run, ...(task && { task }) });
    },
    // Stamped with this node, so the event relay of this server passes it over (its bus has it already).
    event: (kind, key, data, task) => ({ ...runEvent(kind, key, data, now(), task), nodeId: options.node.id }),
    leaseUntil: () => new Date(now().getTime() + options.leaseMs),
    async version(key, number) {
      const cacheKey = `${key.namespace}/${key.id}@${number}`;
      const cached = versions.get(cacheKey);
      if (cached) return cached;
      const row = await getVersion(options.db, key, number);
      if (!row) return undefined;
      if (versions.size >= VERSION_CACHE_SIZE) versions.delete(versions.keys().next().value!);
      versions.set(cacheKey, row);
      return row;
    },
  };
}

