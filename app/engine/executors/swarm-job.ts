// A Swarm replicated job (one task, never restarted: Gantry's retries decide) followed to its
// end: its task waiting for a node (and why), given one, running, ended; its output streamed to
// the task log; stopped with SIGTERM then SIGKILL. Swarm has no event stream a server can
// resume, so the task's state is polled. What the job runs is the caller's (a container task's
// service spec, or a runner's).
import type Docker from "dockerode";
import type { LogWriter } from "../../stores/logs.ts";
import { pause } from "../pause.ts";
import { followTaskLogs, type TaskLogFollower } from "./swarm-task-logs.ts";

/** How often a job's task is looked at. */
const POLL_MS = 250;

/** Task states a job's task does not leave (Swarm's, and "remove" while its service goes). */
const ENDED = new Set(["complete", "failed", "rejected", "shutdown", "orphaned", "remove"]);
/** States in which the task's container has run (or runs): its output can be read. */
const RAN = new Set(["running", "complete", "failed", "shutdown"]);

/** The parts of a Swarm task a job is followed by. */
export interface JobTask {
  ID: string;
  NodeID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status: { State: string; Err?: string; Message?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
}

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
  /** Where its output goes (a log that holds some lines already skips them: skippingLogWriter). */
  log: LogWriter;
  /** Whether its output is followed live from the start (false: it is read once the task has ended, as after a restart it may have). */
  live: boolean;
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
 * output and exit code stay readable); anywhere else its service is removed, and Swarm stops
 * the container with the service's StopGracePeriod.
 */
export function jobControl(docker: Docker, name: string): JobControl {
  const abort = new AbortController();
  const stopping = new AbortController();
  let graceMs: number | undefined;
  let exists = false;
  let container: Docker.Container | undefined;
  let sent = false;
  const send = () => {
    if (graceMs === undefined || sent || abort.signal.aborted || !exists) return;
    sent = true;
    if (container) container.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) }).catch(() => removeService(docker, name));
    else void removeService(docker, name);
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

/** Removes a job's service (its task is stopped by Swarm); a service already gone is fine. */
export async function removeService(docker: Docker, name: string): Promise<void> {
  await docker
    .getService(name)
    .remove()
    .catch(() => undefined);
}

/**
 * Follows a job's service to its end: notes why its task waits for a node, says which node
 * took it, streams its output, and answers how it ended. Rejects only when the engine cannot be asked.
 */
export async function followJob(docker: Docker, name: string, watch: JobWatch, control: JobControl): Promise<JobEnd> {
  let logs: TaskLogFollower | undefined;
  let noted: string | undefined;
  let began: string | undefined;
  let container: Docker.Container | undefined;
  const note = (reason: string | undefined) => {
    if (reason === noted) return;
    noted = reason;
    if (reason) watch.log.line("gantry", reason);
    watch.waiting?.(reason);
  };
  try {
    for (;;) {
      if (control.signal.aborted) return { state: "detached", exitCode: null };
      const tasks = await listJobTasks(docker, name);
      const task = jobTask(tasks);
      if (!task) {
        // No task yet (the service was just created), or no service any more.
        if (!(await serviceExists(docker, name))) return { state: "gone", exitCode: null, ...(began === undefined && { waitingFor: noted ?? watch.waitingReason(undefined) }) };
        await pause(POLL_MS, control.signal);
        continue;
      }
      const { State: state, Err: err, ContainerStatus: status } = task.Status;
      if (!task.NodeID && (state === "pending" || state === "new") && err) note(watch.waitingReason(err));
      if (task.NodeID && status?.ContainerID && RAN.has(state) && began === undefined) {
        began = task.NodeID;
        note(undefined);
        container = await localContainer(docker, status.ContainerID);
        if (container) control.local(container);
        watch.log.line("gantry", `running on node ${await nodeName(docker, task.NodeID)}`);
        watch.began?.(task.NodeID);
        logs = followTaskLogs(docker, task.ID, watch.log, { live: watch.live && !ENDED.has(state) });
      }
      if (ENDED.has(state)) {
        await logs?.finish().catch(() => undefined);
        logs = undefined;
        return {
          state,
          exitCode: status?.ExitCode ?? (state === "complete" ? 0 : null),
          ...(err && { err }),
          ...(task.NodeID && { nodeId: task.NodeID }),
          ...(container && { container }),
          ...(began === undefined && state !== "rejected" && { waitingFor: noted ?? watch.waitingReason(err) }),
        };
      }
      await pause(POLL_MS, control.signal);
    }
  } finally {
    logs?.stop();
  }
}

/** The tasks of a job's service; none once the service is gone (the engine answers 404 for a name it no longer knows). */
export async function listJobTasks(docker: Docker, name: string): Promise<JobTask[]> {
  try {
    return (await docker.listTasks({ filters: { service: [name] } })) as JobTask[];
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
}

/** The job's task: the first that ended (a job's task is never replaced), else the newest. */
function jobTask(tasks: JobTask[]): JobTask | undefined {
  const sorted = [...tasks].sort((a, b) => (a.CreatedAt ?? "").localeCompare(b.CreatedAt ?? ""));
  return sorted.find((task) => ENDED.has(task.Status.State)) ?? sorted.at(-1);
}

async function serviceExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getService(name).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
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
