// Web pages: /pipelines/:ns/:id/runs/:run: the run page, its one live stream (the region's
// re-renders and every task's new log lines), each task's raw log, and the cancel and re-run forms.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { may, requirePermission } from "../../auth/roles.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import { getRun, type RunWithTasks } from "../../db/repos/runs.ts";
import type { Deps } from "../../deps.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import { RESERVED_ENV_PREFIX } from "../../domain/ids.ts";
import { isFinalRunState, isFinalTaskState } from "../../domain/states.ts";
import type { LogKey } from "../../stores/logs.ts";
import { runParams, taskParams } from "../params.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { createWakeup, sse, type Wakeup } from "../sse.ts";
import { validate } from "../validate.ts";
import { announcement, RunLive, RunLiveUpdates, type SpecTask } from "./components/run-live.tsx";
import { pageSession } from "./page-session.ts";
import { rawLogPath, runPath } from "./paths.ts";
import { RunPage, type TaskLog } from "./pages/run.tsx";
import {
  createRunLogFollower,
  decodePositions,
  MAX_LOG_LINES,
  positionsQuery,
  positionsQueryValue,
  type LogPositions,
  type RunLogFollower,
} from "./run-log-follower.ts";
import type { RunKey } from "../../domain/run-key.ts";

/** At most one live render per this many ms, however busy the run. */
const LIVE_THROTTLE_MS = 200;
/** A render this often anyway, so running durations move. */
const LIVE_TICK_MS = 2_000;
/** New log lines gather for this long between messages, so a chatty task makes few of them. */
const LOG_BATCH_MS = 100;

async function requireRun(deps: Deps, key: RunKey): Promise<RunWithTasks> {
  const run = await getRun(deps.db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  return run;
}

const logKeyOf = (key: RunKey, task: string): LogKey => ({ namespace: key.namespace, pipeline: key.id, run: key.run, task });

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
    // Where each pane's lines end: the live stream goes on from there.
    const positions: LogPositions = new Map();
    let logs: TaskLog[] | undefined;
    if (may(c, "logs", "read", target)) {
      logs = await Promise.all(
        run.tasks.map(async (execution): Promise<TaskLog> => {
          const tail = await deps.logs.tail(logKeyOf(key, execution.taskId), 0, MAX_LOG_LINES);
          const total = tail.skipped + tail.lines.length;
          positions.set(execution.taskId, { offset: tail.end, line: total + 1 });
          return { execution, lines: tail.lines, total, live: !isFinalTaskState(execution.state) };
        }),
      );
    }
    const from = positionsQueryValue(positions);
    const liveUrl = isFinalRunState(run.state) ? undefined : `${runPath(run)}/live${from ? `?from=${from}` : ""}`;
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
    validate("query", v.object({ from: positionsQuery })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number } = c.req.valid("param");
      const target = `${ns}/${id}`;
      requirePermission(c, "runs", "read", target);
      const key = { namespace: ns, id, run: number };
      // Changes are heard from before the run is read, so one between the read and the
      // stream's start is not missed; the stream's first render is of this read.
      let renderDue = false;
      let wakeup: Wakeup | undefined;
      const unsubscribe = deps.bus.subscribe((message) => {
        if (message.namespace !== ns || message.pipeline !== id || message.run !== number) return;
        renderDue = true;
        wakeup?.wake();
      });
      let run: RunWithTasks;
      let specTasks: SpecTask[];
      try {
        run = await requireRun(deps, key);
        specTasks = await specTasksOf(deps, run);
      } catch (error) {
        unsubscribe();
        throw error;
      }
      const session = pageSession(c);
      const canWrite = may(c, "runs", "write", target);
      // The page says which lines it shows; a reconnecting browser says what it got since, in
      // the id of the last message it read (one it cannot decode is ignored).
      const resumed = decodePositions(c.req.header("last-event-id"));
      const from: LogPositions = new Map([...c.req.valid("query").from, ...(resumed ?? [])]);
      return sse(c, async (stream, signal) => {
        // Woken early by a run change or new lines.
        const wake = createWakeup(signal);
        wakeup = wake;
        let follower: RunLogFollower | undefined = may(c, "logs", "read", target)
          ? createRunLogFollower({ logs: deps.logs, key, from, rawHref: (task) => rawLogPath(run, task), onLines: () => wake.wake(), signal })
          : undefined;
        let announced = announcement(run);
        let lastRender = -Infinity;
        let lastSent = -Infinity;
        try {
          while (!signal.aborted) {
            const now = Date.now();
            const renderAt = lastRender + (renderDue ? LIVE_THROTTLE_MS : LIVE_TICK_MS);
            const linesAt = follower?.hasLines() ? lastSent + LOG_BATCH_MS : Infinity;
            if (Math.min(renderAt, linesAt) > now) {
              await wake.sleep(Math.min(renderAt, linesAt) - now);
              continue;
            }
            let render = "";
            let ended: string | undefined;
            if (renderAt <= now) {
              lastRender = now;
              // A change reads the run again; a tick without one only moves its durations.
              if (renderDue) {
                renderDue = false;
                const changed = await getRun(deps.db, key);
                if (!changed) return;
                run = changed;
              }
              // Permissions are refreshed while a stream runs: logs:read may have gone.
              if (follower && !may(c, "logs", "read", target)) {
                follower.close();
                follower = undefined;
              }
              follower?.update(run.tasks);
              if (isFinalRunState(run.state)) {
                // Every line before the final render, so the page ends complete.
                await follower?.settled();
                ended = run.state;
              }
              const text = announcement(run);
              const announce = text === announced ? undefined : text;
              announced = text;
              const at = deps.now();
              render = await (
                <>
                  <RunLive run={run} specTasks={specTasks} now={at} session={session} canWrite={canWrite} />
                  <RunLiveUpdates run={run} now={at} logs={follower !== undefined} {...(announce && { announce })} />
                </>
              ).toString();
            }
            // Lines as partials for their panes; without them the message re-renders the region.
            const lines = follower?.take() ?? "";
            if (lines || render) {
              await stream.writeSSE({ data: lines + render, ...(follower && { id: follower.eventId() }) });
              lastSent = Date.now();
            }
            if (ended) {
              await stream.writeSSE({ event: "end", data: ended });
              return;
            }
          }
        } finally {
          unsubscribe();
          follower?.close();
        }
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
    try {
      // An unknown run is a NotFoundError (404) from here too.
      await deps.orchestrator.cancelRun(key, c.get("token").name);
    } catch (error) {
      // Ended before the click arrived: the page shows how it ended.
      if (!(error instanceof ConflictError)) throw error;
    }
    return c.redirect(runPath({ namespace: ns, pipelineId: id, id: number }), 303);
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
