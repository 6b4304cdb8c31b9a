// `gantry run exec`: a command (or a shell) in a running container task, found by its current
// attempt's stored reference. Everything that can refuse is checked before a session begins
// (prepareTaskExec), so the API answers a refusal as JSON; the session's output is masked
// with the task's own secrets, and its start and end are events.
import type { Db } from "../../db/client.ts";
import { requireExecution, requireRun } from "../../db/repos/runs.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import { insertEvent, runEvent } from "../../db/repos/events.ts";
import { execTarget } from "../../domain/exec-target.ts";
import { ConflictError, RateLimitedError } from "../../domain/errors.ts";
import { createMasker } from "../../domain/secret-masking.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { createByteStreamMasker, type ByteStreamMasker } from "../../stores/stream-masking.ts";
import type { EventBus } from "../event-bus.ts";
import type { ContainerExec, ContainerExecSession, OutputStream } from "../executors/container-exec.ts";

export interface TaskExecDeps {
  db: Db;
  bus: EventBus;
  now: () => Date;
  containerExec: ContainerExec;
  /** The pipeline's secret of a name (a task's pull secret, masked too). */
  resolveSecret(pipeline: PipelineKey, name: string): Promise<string | undefined>;
}

export interface TaskExecRequest {
  key: RunKey;
  task: string;
  command: string[];
  tty: boolean;
  cols?: number;
  rows?: number;
  /** Who asks (a person's or a token's name), for the events. */
  by: string;
  /** The token asking: its sessions at once are counted. */
  tokenId: string;
}

/**
 * A session as the engine's container exec gives it, but masked and recorded: `exited` settles
 * once its end event is stored (null too when the client let go first).
 */
export type TaskExecSession = ContainerExecSession;

export interface PreparedTaskExec {
  /** Starts the command; `output` gets its masked bytes until `exited` settles. */
  start(output: (stream: OutputStream, bytes: Uint8Array) => void): Promise<TaskExecSession>;
}

/** Output held back (it may begin a secret) goes out after this much quiet: a prompt must not wait for more. */
const HELD_OUTPUT_MS = 100;

/**
 * Sessions at once, per task and per token. Docker cannot stop an exec'd command, so a
 * client that drops and reconnects in a loop would otherwise pile up processes in a container.
 */
export const MAX_SESSIONS_PER_TASK = 4;
export const MAX_SESSIONS_PER_TOKEN = 16;
/** How much of each argument of a command an event keeps. */
const EVENT_ARGUMENT_CHARS = 500;

const openByTask = new Map<string, number>();
const openByToken = new Map<string, number>();
const taskKeyOf = (request: TaskExecRequest) => `${runKeyString(request.key)}/${request.task}`;

/** Why another session may not begin now (too many at once), or undefined. */
function sessionLimit(request: TaskExecRequest): string | undefined {
  if ((openByTask.get(taskKeyOf(request)) ?? 0) >= MAX_SESSIONS_PER_TASK) return `task ${request.task} has ${MAX_SESSIONS_PER_TASK} exec sessions open already: end one first`;
  if ((openByToken.get(request.tokenId) ?? 0) >= MAX_SESSIONS_PER_TOKEN) return `your token has ${MAX_SESSIONS_PER_TOKEN} exec sessions open already: end one first`;
  return undefined;
}

/** Counts a session in; the returned function counts it out (once). */
function countSession(request: TaskExecRequest): () => void {
  const bump = (map: Map<string, number>, key: string, by: number) => {
    const next = (map.get(key) ?? 0) + by;
    if (next <= 0) map.delete(key);
    else map.set(key, next);
  };
  bump(openByTask, taskKeyOf(request), 1);
  bump(openByToken, request.tokenId, 1);
  let counted = true;
  return () => {
    if (!counted) return;
    counted = false;
    bump(openByTask, taskKeyOf(request), -1);
    bump(openByToken, request.tokenId, -1);
  };
}

/** Throws the refusal (not found, fork, not a running container task, container gone), or returns what start() needs. */
export async function prepareTaskExec(deps: TaskExecDeps, request: TaskExecRequest): Promise<PreparedTaskExec> {
  const { key } = request;
  const label = `${key.namespace}/${key.id} run ${key.run}`;
  const run = await requireRun(deps.db, key);
  const execution = requireExecution(run, request.task);
  const spec = (await getVersion(deps.db, key, run.version))?.spec.tasks.find((task) => task.id === request.task);
  const attempt = execution.attempts.at(-1);
  const target = execTarget({ label, noSecrets: run.noSecrets, execution, attempt, task: spec });
  const container = await deps.containerExec.inspect(target.ref);
  if (typeof container === "string") throw new ConflictError(`task ${request.task} of ${label} cannot be exec'd into: ${container}`);
  const secrets = await taskSecrets(deps, key, spec!, container.env);
  const limited = sessionLimit(request);
  if (limited) throw new RateLimitedError(limited, 5);
  // The command as the events keep it: secrets typed into it masked, each argument cut short.
  const commandMasker = createMasker(secrets);
  const recordedCommand = request.command.map((arg) => commandMasker.mask(arg.length > EVENT_ARGUMENT_CHARS ? `${arg.slice(0, EVENT_ARGUMENT_CHARS)}…` : arg));
  return {
    async start(output) {
      const limit = sessionLimit(request);
      if (limit) throw new RateLimitedError(limit, 5);
      const countOut = countSession(request);
      const maskers = new Map<OutputStream, ByteStreamMasker>([
        [1, createByteStreamMasker(secrets)],
        [2, createByteStreamMasker(secrets)],
      ]);
      let quiet: ReturnType<typeof setTimeout> | undefined;
      const flushHeld = () => {
        for (const [stream, masker] of maskers) if (masker.pending) output(stream, masker.flush());
      };
      let session;
      try {
        session = await deps.containerExec.start(target.ref, request, (stream, bytes) => {
          const masked = maskers.get(stream)!.push(bytes);
          if (masked.length > 0) output(stream, masked);
          clearTimeout(quiet);
          // Either stream's held tail goes out after the quiet, whichever wrote last.
          if ([...maskers.values()].some((masker) => masker.pending)) quiet = setTimeout(flushHeld, HELD_OUTPUT_MS);
        });
      } catch (error) {
        countOut();
        throw error;
      }
      const started = Date.now();
      try {
        await recordExecEvent(deps, "task.exec_started", request, { by: request.by, command: recordedCommand, tty: request.tty, attempt: attempt!.attempt, container: target.ref });
      } catch (error) {
        // No session goes unrecorded.
        session.close();
        countOut();
        throw error;
      }
      let letGo = false;
      const exited = session.exited.then(async (exitCode) => {
        countOut();
        clearTimeout(quiet);
        flushHeld();
        const code = letGo ? null : exitCode;
        await recordExecEvent(deps, "task.exec_ended", request, {
          by: request.by,
          command: recordedCommand,
          exitCode: code,
          durationMs: Date.now() - started,
          // Docker cannot stop an exec'd command: one whose client went away may run on.
          ...(letGo && { reason: "the client went away before the command ended; it may still run in the container" }),
        }).catch((error) => console.error(`exec in ${runKeyString(key)} ${request.task}: its end event was not stored:`, error));
        return code;
      });
      return {
        ...session,
        exited,
        close() {
          letGo = true;
          countOut();
          session.close();
        },
      } satisfies TaskExecSession;
    },
  };
}

/**
 * The values the task's log masks, read from its container's own environment (what it was
 * given, a provided token included): its secret env, its API token, and its pull secret.
 */
async function taskSecrets(deps: TaskExecDeps, key: PipelineKey, task: TaskSpec, env: Record<string, string>): Promise<string[]> {
  const values = Object.entries(task.env)
    .filter(([, value]) => typeof value !== "string")
    .map(([name]) => env[name]);
  values.push(env.GANTRY_API_TOKEN);
  const pullSecret = task.container?.pullSecret;
  if (pullSecret) values.push(await deps.resolveSecret(key, pullSecret).catch(() => undefined));
  return values.filter((value): value is string => value !== undefined && value !== "");
}

async function recordExecEvent(deps: TaskExecDeps, kind: EventKind, request: TaskExecRequest, data: Record<string, unknown>): Promise<void> {
  await insertEvent(deps.db, runEvent(kind, request.key, data, deps.now(), request.task));
  deps.bus.publish({ kind, namespace: request.key.namespace, pipeline: request.key.id, run: request.key.run, task: request.task });
}

