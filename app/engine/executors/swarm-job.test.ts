// followJob, jobControl and the task log follower against a scripted engine: what a real
// one-node swarm cannot be made to do on demand (a manager that stops answering for a moment,
// a task on another node stopped through its service, task logs that hang: moby#38640, a
// stop or removal the manager refuses). The real swarm's behaviour is test/swarm-executor.test.ts's.
import { describe, expect, it } from "bun:test";
import type Docker from "dockerode";
import type { LogStream, LogWriter } from "../../stores/logs.ts";
import { removeServiceUntilGone, type SwarmTask } from "./swarm-client.ts";
import { followJob, jobControl, type JobTiming } from "./swarm-job.ts";
import { followTaskLogs } from "./swarm-task-logs.ts";

const FAST: JobTiming = { startingPollMs: 5, runningPollMs: 40, unansweredMs: 300, finishLogsMs: 200 };

/** Docker's multiplexed frames of stdout lines. */
const frames = (...lines: string[]) =>
  Buffer.concat(lines.map((line) => {
    const payload = Buffer.from(`${line}\n`);
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  }));

function memoryLog(): LogWriter & { lines: [LogStream, string][] } {
  const lines: [LogStream, string][] = [];
  return { lines, size: 0, line: (stream, text) => void lines.push([stream, text]), flush() {}, close() {} };
}

const task = (state: string, fields: Partial<SwarmTask> = {}): SwarmTask => ({
  ID: "task-1",
  NodeID: "node-b",
  DesiredState: "running",
  Spec: { ContainerSpec: { Image: "busybox" } },
  Status: { State: state, ContainerStatus: { ContainerID: "container-1", ...(state === "complete" && { ExitCode: 0 }) } },
  ...fields,
});

interface Script {
  /** What each listTasks answers, in turn (the last repeats); an Error is thrown. */
  listed?: (SwarmTask[] | Error)[];
  /** What each getTask answers, in turn (the last repeats); undefined is a 404. */
  got?: (SwarmTask | undefined)[];
  serviceExists?: boolean;
  /** The task's whole output, or "hang" (a request that never answers), or an Error. */
  logs?: Buffer | "hang" | Error;
  /** What each service removal answers, in turn (the last repeats): a status code, 200 removed. */
  removals?: number[];
  /** What each service update answers, in turn (the last repeats): a status code, 200 updated. */
  updates?: number[];
}

/** An engine that answers as scripted and counts what it was asked; the task's container is on another node. */
function scriptedEngine(script: Script) {
  const calls = { listTasks: 0, getTask: 0, removals: 0, updates: [] as unknown[] };
  const next = <T>(answers: T[], index: number): T => answers[Math.min(index, answers.length - 1)]!;
  const statusError = (statusCode: number) => Object.assign(new Error(`HTTP ${statusCode}`), { statusCode });
  const docker = {
    async listTasks() {
      const answer = next(script.listed ?? [[]], calls.listTasks++);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    getTask: () => ({
      async inspect() {
        const answer = next(script.got ?? [undefined], calls.getTask++);
        if (!answer) throw statusError(404);
        return answer;
      },
      logs(options: { follow: boolean; abortSignal?: AbortSignal }) {
        // A followed stream, and a hung request, answer nothing until the request is aborted.
        const hanging = () => new Promise((_, reject) => options.abortSignal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
        if (options.follow || script.logs === "hang") return hanging();
        if (script.logs instanceof Error) return Promise.reject(script.logs);
        return Promise.resolve(script.logs ?? Buffer.alloc(0));
      },
    }),
    getService: () => ({
      inspect: async () => {
        if (script.serviceExists === false) throw statusError(404);
        return { ID: "service-1", Version: { Index: 7 }, Spec: { Name: "svc", TaskTemplate: { ContainerSpec: { Image: "busybox" } }, Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } } } };
      },
      async update(options: unknown) {
        const status = next(script.updates ?? [200], calls.updates.length);
        calls.updates.push(options);
        if (status !== 200) throw statusError(status);
      },
      async remove() {
        const status = next(script.removals ?? [200], calls.removals++);
        if (status !== 200) throw statusError(status);
      },
    }),
    // Not on this engine: a stop removes the service.
    getContainer: () => ({ inspect: () => Promise.reject(statusError(404)) }),
    getNode: () => ({ inspect: async () => ({ Description: { Hostname: "other-host" } }) }),
  };
  return { docker: docker as unknown as Docker, calls };
}

const watch = (log: LogWriter) => ({ log, waitingReason: (says: string | undefined) => `waiting for a node${says ? ` (${says})` : ""}` });

describe("following a swarm job", () => {
  it("asks a manager that does not answer again, backing off, and follows the task to its end", async () => {
    const unreachable = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const { docker, calls } = scriptedEngine({ listed: [unreachable, unreachable, [task("running")]], got: [task("complete")], logs: frames("done") });
    const log = memoryLog();
    const end = await followJob(docker, "svc", watch(log), jobControl(docker, "svc"), FAST);
    expect(end).toMatchObject({ state: "complete", exitCode: 0, nodeId: "node-b" });
    expect(calls.listTasks).toBe(3);
    expect(log.lines.filter(([stream]) => stream === "gantry").map(([, text]) => text)).toEqual([
      "the swarm manager did not answer (connect ECONNREFUSED); asking again for up to 300ms",
      "running on node other-host (node-b)",
    ]);
    expect(log.lines).toContainEqual(["out", "done"]);
  });

  it("gives up once the manager has not answered for its budget", async () => {
    const unreachable = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const { docker } = scriptedEngine({ listed: [unreachable] });
    const started = Date.now();
    await expect(followJob(docker, "svc", watch(memoryLog()), jobControl(docker, "svc"), FAST)).rejects.toThrow("ECONNREFUSED");
    expect(Date.now() - started).toBeGreaterThanOrEqual(FAST.unansweredMs);
  });

  it("polls often while the task starts and less once it runs", async () => {
    const running = Array.from({ length: 8 }, () => task("running"));
    const { docker, calls } = scriptedEngine({ listed: [[task("pending", { NodeID: undefined })], [task("pending", { NodeID: undefined })], [task("running")]], got: [...running, task("complete")] });
    const started = Date.now();
    await followJob(docker, "svc", watch(memoryLog()), jobControl(docker, "svc"), FAST);
    // Two looks while pending (5 ms apart), then eight at the running pace (40 ms apart).
    expect(calls.getTask).toBe(9);
    expect(Date.now() - started).toBeGreaterThanOrEqual(8 * FAST.runningPollMs);
  });

  it("stops a task on another node through its service (no completions wanted), and follows it by its id until it has shut down, reading its last lines", async () => {
    // The task lives on while its container stops.
    const stopping = task("running", { DesiredState: "remove" });
    const { docker, calls } = scriptedEngine({
      listed: [[task("running")]],
      got: [task("running"), stopping, stopping, stopping, task("shutdown", { DesiredState: "remove" })],
      logs: frames("working", "caught SIGTERM, cleaning up"),
    });
    const control = jobControl(docker, "svc");
    control.created();
    const log = memoryLog();
    const following = followJob(docker, "svc", watch(log), control, FAST);
    await Bun.sleep(20);
    control.stop(1_000);
    const end = await following;
    expect(end).toMatchObject({ state: "shutdown", nodeId: "node-b" });
    // Not removed (engines before Docker 24 let a removed job's task run on): updated to want no completions, at the version read.
    expect(calls.removals).toBe(0);
    expect(calls.updates).toEqual([{ _query: { version: 7 }, _body: expect.objectContaining({ Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 0 } } }) }]);
    expect(calls.getTask).toBe(5);
    expect(log.lines.filter(([stream]) => stream === "out").map(([, text]) => text)).toEqual(["working", "caught SIGTERM, cleaning up"]);
  });

  it("ends as gone once the stopped task is deleted too", async () => {
    const { docker } = scriptedEngine({ listed: [[task("running")]], got: [task("running"), undefined], serviceExists: false, logs: frames("working") });
    const end = await followJob(docker, "svc", watch(memoryLog()), jobControl(docker, "svc"), FAST);
    expect(end.state).toBe("gone");
  });

  it("ends a task stopped before any node took it, saying what it waited for (Swarm may leave it pending)", async () => {
    const pending = task("pending", { NodeID: undefined, Status: { State: "pending", Err: "no suitable node" } });
    const { docker } = scriptedEngine({ listed: [[pending]], got: [pending, pending, { ...pending, DesiredState: "remove" }] });
    const end = await followJob(docker, "svc", watch(memoryLog()), jobControl(docker, "svc"), FAST);
    expect(end).toEqual({ state: "gone", exitCode: null, waitingFor: "waiting for a node (no suitable node)" });
  });
});

describe("a task's last output", () => {
  it("has a deadline: logs that hang end with a line saying the output may be incomplete", async () => {
    const { docker } = scriptedEngine({ logs: "hang" });
    const log = memoryLog();
    const started = Date.now();
    await followTaskLogs(docker, "task-1", log, { live: true }).finish(100);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(log.lines).toEqual([["gantry", "output may be incomplete: the engine did not hand over the task's last output within 100ms"]]);
  });

  it("says so when reading it fails", async () => {
    const { docker } = scriptedEngine({ logs: Object.assign(new Error("(HTTP code 500) server error - task not found"), { statusCode: 500 }) });
    const log = memoryLog();
    await followTaskLogs(docker, "task-1", log, { live: false }).finish();
    expect(log.lines).toEqual([["gantry", "output may be incomplete: reading the task's output failed (task not found)"]]);
  });
});

describe("stopping and removing a job's service", () => {
  it("tries again while the manager refuses, until the service is gone", async () => {
    const { docker, calls } = scriptedEngine({ removals: [500, 503, 200] });
    const failures: number[] = [];
    expect(await removeServiceUntilGone(docker, "svc", { firstDelayMs: 5, failed: (_error, tries) => failures.push(tries) })).toBe(true);
    expect(calls.removals).toBe(3);
    expect(failures).toEqual([1, 2]);
  });

  it("is done at once when the service is not there, and stops trying when told", async () => {
    const gone = scriptedEngine({ removals: [404] });
    expect(await removeServiceUntilGone(gone.docker, "svc")).toBe(true);
    expect(gone.calls.removals).toBe(1);
    const refusing = scriptedEngine({ removals: [500] });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 30);
    expect(await removeServiceUntilGone(refusing.docker, "svc", { firstDelayMs: 5, signal: abort.signal })).toBe(false);
  });

  it("a stop the manager refuses is tried again until it is done", async () => {
    const { docker, calls } = scriptedEngine({ updates: [500, 503, 200] });
    const control = jobControl(docker, "svc", { firstDelayMs: 5 });
    // Asked for before the service existed: sent once it does.
    control.stop(1_000);
    control.created();
    for (let waited = 0; calls.updates.length < 3 && waited < 2_000; waited += 10) await Bun.sleep(10);
    await Bun.sleep(30);
    expect(calls.updates).toHaveLength(3);
  });
});
