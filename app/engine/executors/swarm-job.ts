// A Swarm replicated job (one task, never restarted: Gantry's retries decide) followed to its
// end: its task waiting for a node (and why), given one, running, ended; its output streamed to
// the task log; stopped with SIGTERM then SIGKILL. Swarm has no event stream a server can
// resume, so the task's state is polled: often while it starts, less once it runs, by its id
// once known (a stopped task lives on while its container stops, whatever becomes of its
// service). What the job runs is the caller's: a service spec made from a container plan
// (swarm-task-jobs.ts).
import type Docker from "dockerode";
import type { LogWriter } from "../../stores/logs.ts";
import { formatDuration } from "../../domain/duration.ts";
import { pause } from "../pause.ts";
import { dockerMessage } from "./docker-client.ts";
import { getTask, inspectService, listTasks, retrying, stopJobService, type RetryOptions, type SwarmTask } from "./swarm-client.ts";
import { followTaskLogs, type TaskLogFollower } from "./swarm-task-logs.ts";

/** Task states a job's task does not leave (Swarm's, and "remove" while its service goes). */
const ENDED = new Set(["complete", "failed", "rejected", "shutdown", "orphaned", "remove"]);

/** A task stopped before any node took it: it will never run (Swarm may keep it as it is). */
const abandoned = (task: SwarmTask) => !task.NodeID && (task.DesiredState === "remove" || task.DesiredState === "shutdown");

/** Whether a job's task is over: it ended, or was stopped before it had a node. */
export const taskOver = (task: SwarmTask): boolean => ENDED.has(task.Status.State) || abandoned(task);
/** States in which the task's container has run (or runs): its output can be read. */
const RAN = new Set(["running", "complete", "failed", "shutdown"]);

/** How a job is polled, and how long the manager may not answer. */
export interface JobTiming {
  /** Between looks while the task waits for a node or starts, and once a stop was asked for (ms). */
  startingPollMs: number;
  /** Between looks once its container runs (ms): a long task should not cost the manager 4 requests a second. */
  runningPollMs: number;
  /** How long the manager may fail to answer before following gives up (ms); the tries back off meanwhile. */
  unansweredMs: number;
  /** How long reading the task's last output may take once it has ended (ms). */
  finishLogsMs: number;
}

export const JOB_TIMING: JobTiming = { startingPollMs: 250, runningPollMs: 1_000, unansweredMs: 60_000, finishLogsMs: 15_000 };

/** How a job ended. */
export interface JobEnd {
  /** Swarm's final task state ("complete", "failed", "rejected", "shutdown", ...), "gone" (the service was removed) or "detached". */
  state: string;
  exitCode: number | null;
  /** Swarm's error for the task ("No such image: ...", "task: non-zero exit (2)"). */
  err?: string;
  /** The node that took it, if one did. */
  nodeId?: string;
  /** Its container, when it ran on this engine (so an OOM kill can be read from it). */
  container?: Docker.Container;
  /** It never began: what it was still waiting for. */
  waitingFor?: string;
}

export interface JobWatch {
  /** Where its output goes, followed live from the start (a log that holds some lines already skips them: skippingLogWriter). */
  log: LogWriter;
  /** Why a task no node has taken waits, given what Swarm's scheduler says. */
  waitingReason(schedulerSays: string | undefined): string;
  /** Why the work has not begun, as it changes; undefined once it has. */
  waiting?(reason: string | undefined): void;
  /** A node took the task and its container began. */
  began?(nodeId: string): void;
}

/** Stops a job: SIGTERM, SIGKILL after the grace; or lets go of it and leaves it running. */
export interface JobControl {
  stop(graceMs: number): void;
  /** Stops following; the job goes on for the next server to attach to. */
  detach(): void;
  stopRequested(): boolean;
  /** Aborted on detach: polls and the log stream let go, so the server can exit. */
  signal: AbortSignal;
  /** Aborted on detach and on a stop: waits before the job exists end. */
  ended: AbortSignal;
  /** The job's service exists now (a stop asked for before reaches it). */
  created(): void;
  /** Its task's container is on this engine: a stop reaches it directly, with the grace asked for. */
  local(container: Docker.Container): void;
}

/**
 * A job's stop: its container on this engine is stopped with exactly the grace asked for (its
 * output and exit code stay readable); anywhere else Swarm stops it (stopJobService). That is
 * tried again until it is done or the service is gone (or the server stops following it).
 */
export function jobControl(docker: Docker, name: string, retry: Pick<RetryOptions, "firstDelayMs"> = {}): JobControl {
  const abort = new AbortController();
  const stopping = new AbortController();
  let graceMs: number | undefined;
  let exists = false;
  let container: Docker.Container | undefined;
  let sent = false;
  const stopJob = () =>
    void retrying(() => stopJobService(docker, name), {
      ...retry,
      signal: abort.signal,
      failed(error, tries) {
        // The first failure, then about once a minute while the engine keeps refusing.
        if (tries === 1 || tries % 12 === 0) console.error(`stopping the task of service ${name} failed (try ${tries}), trying again: ${dockerMessage(error)}`);
      },
    });
  const send = () => {
    if (graceMs === undefined || sent || abort.signal.aborted || !exists) return;
    sent = true;
    if (container) container.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) }).catch(stopJob);
    else stopJob();
  };
  return {
    stop(ms) {
      graceMs = ms;
      stopping.abort();
      send();
    },
    detach: () => abort.abort(),
    stopRequested: () => graceMs !== undefined,
    signal: abort.signal,
    ended: AbortSignal.any([abort.signal, stopping.signal]),
    created() {
      exists = true;
      send();
    },
    local(target) {
      container = target;
    },
  };
}

/**
 * Follows a job's service to its end: notes why its task waits for a node, says which node
 * took it, streams its output, and answers how it ended. A manager that does not answer is
 * asked again, backing off, for `timing.unansweredMs`; only then does this reject.
 */
export async function followJob(docker: Docker, name: string, watch: JobWatch, control: JobControl, timing: JobTiming = JOB_TIMING): Promise<JobEnd> {
  let logs: TaskLogFollower | undefined;
  let noted: string | undefined;
  let began: string | undefined;
  let container: Docker.Container | undefined;
  // Known once its task was seen: from then on the task is asked for by id, which outlives the service.
  let taskId: string | undefined;
  let unanswered: { since: number; delayMs: number } | undefined;
  const note = (reason: string | undefined) => {
    if (reason === noted) return;
    noted = reason;
    if (reason) watch.log.line("gantry", reason);
    watch.waiting?.(reason);
  };
  /** The job's task now; undefined while it has none yet; "gone" once neither task nor service is there. */
  const look = async (): Promise<SwarmTask | undefined | "gone"> => {
    if (taskId) return (await getTask(docker, taskId)) ?? "gone";
    const task = jobTask(await listTasks(docker, name));
    if (task) return task;
    // No task yet (the service was just created), or no service any more.
    return (await inspectService(docker, name)) ? undefined : "gone";
  };
  const finishLogs = async () => {
    await logs?.finish(timing.finishLogsMs);
    logs = undefined;
  };
  try {
    for (;;) {
      if (control.signal.aborted) return { state: "detached", exitCode: null };
      let task: SwarmTask | undefined | "gone";
      try {
        task = await look();
        unanswered = undefined;
      } catch (error) {
        if (control.signal.aborted) return { state: "detached", exitCode: null };
        // A manager restarting, or a leader election: asked again before the attempt fails (and its healthy service is removed).
        if (!unanswered) {
          unanswered = { since: Date.now(), delayMs: timing.startingPollMs };
          watch.log.line("gantry", `the swarm manager did not answer (${dockerMessage(error)}); asking again for up to ${formatDuration(timing.unansweredMs)}`);
        } else if (Date.now() - unanswered.since >= timing.unansweredMs) {
          throw error;
        }
        await pause(unanswered.delayMs, control.signal);
        unanswered.delayMs = Math.min(unanswered.delayMs * 2, 5_000);
        continue;
      }
      if (task === "gone") {
        await finishLogs();
        return { state: "gone", exitCode: null, ...(began === undefined && { waitingFor: noted ?? watch.waitingReason(undefined) }) };
      }
      if (task) {
        taskId = task.ID;
        const { State: state, Err: err, ContainerStatus: status } = task.Status;
        if (began === undefined && abandoned(task)) {
          return { state: "gone", exitCode: null, waitingFor: noted ?? watch.waitingReason(undefined) };
        }
        if (!task.NodeID && (state === "pending" || state === "new") && err) note(watch.waitingReason(err));
        if (task.NodeID && status?.ContainerID && RAN.has(state) && began === undefined) {
          began = task.NodeID;
          note(undefined);
          container = await localContainer(docker, status.ContainerID);
          if (container) control.local(container);
          watch.log.line("gantry", `running on node ${await nodeName(docker, task.NodeID)}`);
          watch.began?.(task.NodeID);
          logs = followTaskLogs(docker, task.ID, watch.log, { live: !ENDED.has(state) });
        }
        if (ENDED.has(state)) {
          await finishLogs();
          return {
            state,
            exitCode: status?.ExitCode ?? (state === "complete" ? 0 : null),
            ...(err && { err }),
            ...(task.NodeID && { nodeId: task.NodeID }),
            ...(container && { container }),
            ...(began === undefined && state !== "rejected" && { waitingFor: noted ?? watch.waitingReason(err) }),
          };
        }
      }
      // Often while it starts (and while a stop takes effect), less once it runs.
      await pause(began === undefined || control.stopRequested() ? timing.startingPollMs : timing.runningPollMs, control.signal);
    }
  } finally {
    logs?.stop();
  }
}

/** The job's task: the first that ended (a job's task is never replaced), else the newest. */
function jobTask(tasks: SwarmTask[]): SwarmTask | undefined {
  const sorted = [...tasks].sort((a, b) => (a.CreatedAt ?? "").localeCompare(b.CreatedAt ?? ""));
  return sorted.find((task) => ENDED.has(task.Status.State)) ?? sorted.at(-1);
}

/** The task's container when this engine has it (the task ran on this node). */
async function localContainer(docker: Docker, id: string): Promise<Docker.Container | undefined> {
  const container = docker.getContainer(id);
  try {
    await container.inspect();
    return container;
  } catch {
    return undefined;
  }
}

/** A node as people know it: its hostname, and its id. */
async function nodeName(docker: Docker, id: string): Promise<string> {
  try {
    const node = (await docker.getNode(id).inspect()) as { Description?: { Hostname?: string } };
    return node.Description?.Hostname ? `${node.Description.Hostname} (${id})` : id;
  } catch {
    return id;
  }
}
