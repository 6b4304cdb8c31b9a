// `gantry run exec`: a command (or a shell) in a running container task, found by its current
// attempt's stored reference. Everything that can refuse is checked before a session begins
// (prepareTaskExec), so the API answers a refusal as JSON; the session's output is masked
// with the task's own secrets, and its start and end are events.
import type { Db } from "../../db/client.ts";
import { getRun } from "../../db/repos/runs.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import { insertEvent, runEvent } from "../../db/repos/events.ts";
import { execTarget } from "../../domain/exec-target.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { createByteStreamMasker, type ByteStreamMasker } from "../../stores/stream-masking.ts";
import type { EventBus } from "../event-bus.ts";
import type { ContainerExec, OutputStream } from "../executors/container-exec.ts";

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
}

export interface TaskExecSession {
  write(bytes: Uint8Array): void;
  endInput(): void;
  resize(cols: number, rows: number): Promise<void>;
  /** The command's exit code (null when the engine could not say, or the session was let go first), once its end event is stored. */
  exited: Promise<number | null>;
  /** Lets go (the client went away). */
  close(): void;
}

export interface PreparedTaskExec {
  /** Starts the command; `output` gets its masked bytes until `exited` settles. */
  start(output: (stream: OutputStream, bytes: Uint8Array) => void): Promise<TaskExecSession>;
}

/** Output held back (it may begin a secret) goes out after this much quiet: a prompt must not wait for more. */
const HELD_OUTPUT_MS = 100;

/** Throws the refusal (not found, fork, not a running container task, container gone), or returns what start() needs. */
export async function prepareTaskExec(deps: TaskExecDeps, request: TaskExecRequest): Promise<PreparedTaskExec> {
  const { key } = request;
  const label = `${key.namespace}/${key.id} run ${key.run}`;
  const run = await getRun(deps.db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  const execution = run.tasks.find((candidate) => candidate.taskId === request.task);
  if (!execution) throw new NotFoundError(`task ${request.task} is not part of run ${key.run} of ${key.namespace}/${key.id}`);
  const spec = (await getVersion(deps.db, key, run.version))?.spec.tasks.find((task) => task.id === request.task);
  const attempt = execution.attempts.at(-1);
  const target = execTarget({ label, noSecrets: run.noSecrets, execution, attempt, task: spec });
  const container = await deps.containerExec.inspect(target.ref);
  if (typeof container === "string") throw new ConflictError(`task ${request.task} of ${label} cannot be exec'd into: ${container}`);
  const secrets = await taskSecrets(deps, key, spec!, container.env);
  return {
    async start(output) {
      const maskers = new Map<OutputStream, ByteStreamMasker>([
        [1, createByteStreamMasker(secrets)],
        [2, createByteStreamMasker(secrets)],
      ]);
      let quiet: ReturnType<typeof setTimeout> | undefined;
      const flushHeld = () => {
        for (const [stream, masker] of maskers) if (masker.pending) output(stream, masker.flush());
      };
      const session = await deps.containerExec.start(target.ref, request, (stream, bytes) => {
        const masker = maskers.get(stream)!;
        const masked = masker.push(bytes);
        if (masked.length > 0) output(stream, masked);
        clearTimeout(quiet);
        if (masker.pending) quiet = setTimeout(flushHeld, HELD_OUTPUT_MS);
      });
      const started = Date.now();
      await recordExecEvent(deps, "task.exec_started", request, { by: request.by, command: request.command, tty: request.tty, attempt: attempt!.attempt, container: target.ref });
      let letGo = false;
      const exited = session.exited.then(async (exitCode) => {
        clearTimeout(quiet);
        flushHeld();
        const code = letGo ? null : exitCode;
        await recordExecEvent(deps, "task.exec_ended", request, {
          by: request.by,
          command: request.command,
          exitCode: code,
          durationMs: Date.now() - started,
          // Docker cannot stop an exec'd command: one whose client went away may run on.
          ...(letGo && { reason: "the client went away before the command ended; it may still run in the container" }),
        }).catch((error) => console.error(`exec in ${runKeyString(key)} ${request.task}: its end event was not stored:`, error));
        return code;
      });
      return {
        write: (bytes) => session.write(bytes),
        endInput: () => session.endInput(),
        resize: (cols, rows) => session.resize(cols, rows),
        exited,
        close() {
          letGo = true;
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

