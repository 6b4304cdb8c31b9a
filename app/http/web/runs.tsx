// Web pages: /pipelines/:ns/:id/runs/:run: the run page, its live stream, each task's log
// (streamed and raw), and the cancel and re-run forms.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { may, requirePermission } from "../../auth/roles.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import { getRun, type RunKey, type RunWithTasks } from "../../db/repos/runs.ts";
import type { Deps } from "../../deps.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import { idSchema, RESERVED_ENV_PREFIX } from "../../domain/ids.ts";
import { isFinalRunState, isFinalTaskState } from "../../domain/states.ts";
import type { LogKey } from "../../stores/logs.ts";
import { runParams } from "../api/params.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { sse } from "../sse.ts";
import { validate } from "../validate.ts";
import { LogLines, SkippedLines } from "./components/log-view.tsx";
import { announcement, RunLive, RunLiveUpdates, type PaneActivation, type SpecTask } from "./components/run-live.tsx";
import { runPath } from "./components/run-summary.tsx";
import { pageSession } from "./page-session.ts";
import { emptyLogText, RunPage, type TaskLog } from "./pages/run.tsx";

/** Lines of a log a page (or a stream that starts far behind) shows; the raw log has them all. */
const MAX_LOG_LINES = 2000;
/**
 * Log panes streaming at once. Browsers open at most six HTTP/1.1 connections per host, and
 * the live region needs one more: other tasks' panes wait and start as slots free up.
 */
const MAX_LOG_STREAMS = 4;
/** At most one live render per this many ms, however busy the run. */
const LIVE_THROTTLE_MS = 200;
/** A render this often anyway, so running durations move. */
const LIVE_TICK_MS = 5_000;
/** A log stream gathers what is written for this long before it sends. */
const LOG_BATCH_MS = 100;

const taskParams = v.object({ ...runParams.entries, task: idSchema });

/** A comma-separated list of task ids, from the page's own links. */
const taskList = v.optional(
  v.pipe(
    v.string(),
    v.regex(/^[a-z0-9,-]{0,20000}$/, "must be task ids separated by commas"),
    v.transform((value) => value.split(",").filter(Boolean)),
  ),
  "",
);

const offset = (what: string) =>
  v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, `must be ${what}`), v.transform(Number)));

const logQuery = v.object({ from: offset("a byte offset"), line: offset("a line number") });

async function requireRun(deps: Deps, key: RunKey): Promise<RunWithTasks> {
  const run = await getRun(deps.db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  return run;
}

const logKeyOf = (key: RunKey, task: string): LogKey => ({ namespace: key.namespace, pipeline: key.id, run: key.run, task });

const logStreamUrl = (key: RunKey, task: string, from: number, line: number) =>
  `/pipelines/${key.namespace}/${key.id}/runs/${key.run}/tasks/${task}/log?from=${from}&line=${line}`;

/** Run variables as a user set them: system ones (GANTRY_*) come from the trigger, not the user. */
function userVariables(variables: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(variables).filter(([name]) => !name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)));
}

async function specTasksOf(deps: Deps, run: RunWithTasks): Promise<SpecTask[]> {
  const version = await getVersion(deps.db, { namespace: run.namespace, id: run.pipelineId }, run.version);
  return version?.spec.tasks ?? [];
}

export const runPages = new Hono<AppEnv>()
  .get("/:ns/:id/runs/:run", requireSession, validate("param", runParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run: number } = c.req.valid("param");
    const target = `${ns}/${id}`;
    requirePermission(c, "runs", "read", target);
    const key = { namespace: ns, id, run: number };
    const run = await requireRun(deps, key);
    const specTasks = await specTasksOf(deps, run);
    const streaming: string[] = [];
    const waiting: string[] = [];
    let logs: TaskLog[] | undefined;
    if (may(c, "logs", "read", target)) {
      logs = await Promise.all(
        run.tasks.map(async (execution): Promise<TaskLog> => {
          const tail = await deps.logs.tail(logKeyOf(key, execution.taskId), 0, MAX_LOG_LINES);
          const total = tail.skipped + tail.lines.length;
          const log: TaskLog = { execution, lines: tail.lines, total };
          if (isFinalTaskState(execution.state)) return log;
          if (execution.state === "running" && streaming.length < MAX_LOG_STREAMS) {
            streaming.push(execution.taskId);
            return { ...log, stream: logStreamUrl(key, execution.taskId, tail.end, total + 1) };
          }
          waiting.push(execution.taskId);
          return log;
        }),
      );
    }
    const query = new URLSearchParams();
    if (streaming.length > 0) query.set("streaming", streaming.join(","));
    if (waiting.length > 0) query.set("waiting", waiting.join(","));
    const liveUrl = isFinalRunState(run.state) ? undefined : `${runPath(run)}/live${query.size > 0 ? `?${query}` : ""}`;
    return c.html(
      <RunPage
        run={run}
        specTasks={specTasks}
        now={deps.now()}
        session={pageSession(c)}
        canWrite={may(c, "runs", "write", target)}
        liveUrl={liveUrl}
        logs={logs}
      />,
    );
  })
  .get(
    "/:ns/:id/runs/:run/live",
    requireSession,
    validate("param", runParams),
    validate("query", v.object({ streaming: taskList, waiting: taskList })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number } = c.req.valid("param");
      const target = `${ns}/${id}`;
      requirePermission(c, "runs", "read", target);
      const key = { namespace: ns, id, run: number };
      const first = await requireRun(deps, key);
      const specTasks = await specTasksOf(deps, first);
      const session = pageSession(c);
      const canWrite = may(c, "runs", "write", target);
      const logs = may(c, "logs", "read", target);
      // The panes the page streams, and those waiting for their task (or for a free slot).
      const streaming = new Set(c.req.valid("query").streaming);
      const waiting = new Set(c.req.valid("query").waiting);
      return sse(c, async (stream, signal) => {
        let changed = true;
        let wake: (() => void) | undefined;
        const unsubscribe = deps.bus.subscribe((message) => {
          if (message.namespace !== ns || message.pipeline !== id || message.run !== number) return;
          changed = true;
          wake?.();
        });
        let announced = announcement(first);
        try {
          while (!signal.aborted) {
            changed = false;
            const run = await getRun(deps.db, key);
            if (!run) return;
            const activate: PaneActivation[] = [];
            if (logs) {
              const byId = new Map(run.tasks.map((execution) => [execution.taskId, execution]));
              for (const taskId of streaming) {
                const execution = byId.get(taskId);
                if (!execution || isFinalTaskState(execution.state)) streaming.delete(taskId);
              }
              for (const taskId of waiting) {
                const execution = byId.get(taskId);
                if (!execution || execution.state === "pending") continue;
                const final = isFinalTaskState(execution.state);
                if (!final && streaming.size >= MAX_LOG_STREAMS) continue;
                waiting.delete(taskId);
                if (!final) streaming.add(taskId);
                // From the first line: the pane may show lines from before, and is replaced whole.
                const paneStream = execution.startedAt ? logStreamUrl(key, taskId, 0, 1) : undefined;
                activate.push({ taskId, empty: emptyLogText(execution), ...(paneStream && { stream: paneStream }) });
              }
            }
            const now = deps.now();
            const text = announcement(run);
            const announce = text === announced ? undefined : text;
            announced = text;
            const html = await (
              <>
                <RunLive run={run} specTasks={specTasks} now={now} session={session} canWrite={canWrite} />
                <RunLiveUpdates run={run} now={now} logs={logs} activate={activate} {...(announce && { announce })} />
              </>
            ).toString();
            await stream.writeSSE({ data: html });
            if (isFinalRunState(run.state)) {
              await stream.writeSSE({ event: "end", data: run.state });
              return;
            }
            const sentAt = Date.now();
            if (!changed) {
              await new Promise<void>((resolve) => {
                const done = () => {
                  clearTimeout(timer);
                  signal.removeEventListener("abort", done);
                  wake = undefined;
                  resolve();
                };
                const timer = setTimeout(done, LIVE_TICK_MS);
                signal.addEventListener("abort", done);
                wake = done;
              });
            }
            const rest = LIVE_THROTTLE_MS - (Date.now() - sentAt);
            if (rest > 0 && !signal.aborted) await Bun.sleep(rest);
          }
        } finally {
          unsubscribe();
        }
      });
    },
  )
  .get(
    "/:ns/:id/runs/:run/tasks/:task/log",
    requireSession,
    validate("param", taskParams),
    validate("query", logQuery),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number, task } = c.req.valid("param");
      requirePermission(c, "logs", "read", `${ns}/${id}`);
      const key = { namespace: ns, id, run: number };
      const run = await requireRun(deps, key);
      if (!run.tasks.some((execution) => execution.taskId === task)) throw new NotFoundError(`task ${task} is not part of run ${number} of ${ns}/${id}`);
      // A reconnecting browser says where it got to (the id of the last message it read).
      const resume = /^(\d{1,15}):(\d{1,15})$/.exec(c.req.header("last-event-id") ?? "");
      let from = resume ? Number(resume[1]) : (c.req.valid("query").from ?? 0);
      let line = resume ? Number(resume[2]) : (c.req.valid("query").line ?? 1);
      const logKey = logKeyOf(key, task);
      const rawHref = `${runPath(run)}/tasks/${task}/log.txt`;
      const execution = async () => (await getRun(deps.db, key))?.tasks.find((candidate) => candidate.taskId === task);
      const finished = async () => {
        const current = await execution();
        return !current || isFinalTaskState(current.state);
      };
      return sse(c, async (stream, signal) => {
        const send = async (lines: string[], skipped = 0) => {
          const html = await (
            <>
              {skipped > 0 && <SkippedLines count={skipped} rawHref={rawHref} />}
              <LogLines taskId={task} lines={lines} first={line + skipped} />
            </>
          ).toString();
          line += skipped + lines.length;
          await stream.writeSSE({ data: html, id: `${from}:${line}` });
        };
        // Something at once, so the response starts before the task writes (or the first heartbeat).
        await stream.write(": following\n\n");
        // A reader far behind gets the last lines only, like the page.
        const tail = await deps.logs.tail(logKey, from, MAX_LOG_LINES);
        from = tail.end;
        if (tail.lines.length > 0) await send(tail.lines, tail.skipped);
        for await (const chunk of deps.logs.follow(logKey, finished, signal, from)) {
          from += Buffer.byteLength(chunk);
          const lines = chunk.split("\n");
          // Chunks end with a newline except the last piece of a finished log.
          if (lines.at(-1) === "") lines.pop();
          await send(lines);
          // Let a busy task's lines gather so the browser gets batches, not a message per line.
          await Bun.sleep(LOG_BATCH_MS);
        }
        const ended = await execution();
        await stream.writeSSE({ event: "end", data: ended?.state ?? "unknown" });
      });
    },
  )
  .get("/:ns/:id/runs/:run/tasks/:task/log.txt", requireSession, validate("param", taskParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run: number, task } = c.req.valid("param");
    requirePermission(c, "logs", "read", `${ns}/${id}`);
    const key = { namespace: ns, id, run: number };
    const run = await requireRun(deps, key);
    if (!run.tasks.some((execution) => execution.taskId === task)) throw new NotFoundError(`task ${task} is not part of run ${number} of ${ns}/${id}`);
    return c.body((await deps.logs.read(logKeyOf(key, task))) ?? "", 200, {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `inline; filename="${ns}-${id}-${number}-${task}.log"`,
    });
  })
  .post("/:ns/:id/runs/:run/cancel", requireSession, requireCsrf, validate("param", runParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run: number } = c.req.valid("param");
    requirePermission(c, "runs", "write", `${ns}/${id}`);
    const key = { namespace: ns, id, run: number };
    const run = await requireRun(deps, key);
    try {
      await deps.orchestrator.cancelRun(key, c.get("token").name);
    } catch (error) {
      // Ended before the click arrived: the page shows how it ended.
      if (!(error instanceof ConflictError)) throw error;
    }
    return c.redirect(runPath(run), 303);
  })
  .post("/:ns/:id/runs/:run/rerun", requireSession, requireCsrf, validate("param", runParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run: number } = c.req.valid("param");
    requirePermission(c, "runs", "write", `${ns}/${id}`);
    const previous = await requireRun(deps, { namespace: ns, id, run: number });
    const run = await deps.orchestrator.startRun(
      { namespace: ns, id },
      { variables: userVariables(previous.variables), trigger: { kind: "web", by: c.get("token").name } },
    );
    return c.redirect(runPath(run), 303);
  });
