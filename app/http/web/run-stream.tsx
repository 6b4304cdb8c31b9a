// The run page's one live stream: re-renders of its live region (summary, DAG, task table)
// on every change of the run (and, while it is queued, of the queue and the pause switch),
// and every task's new log lines as partials for their panes, until the run ends.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Context } from "hono";
import { deciderOf } from "../../auth/decider.ts";
import { may, requirePermission } from "../../auth/roles.ts";
import { getRun, requireRun, type RunWithTasks } from "../../db/repos/runs.ts";
import type { QueuePlace } from "../../domain/admission.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { isFinalRunState } from "../../domain/states.ts";
import type { AppEnv } from "../env.ts";
import { createWakeup, sse, type Wakeup } from "../sse.ts";
import { announcement, RunLive, RunLiveUpdates, type SpecTask } from "./components/run-live.tsx";
import type { PageSession } from "./layouts/page.tsx";
import { pageSession } from "./page-session.ts";
import { rawLogPath, runPath } from "./paths.ts";
import { createRunLogFollower, decodePositions, type LogPositions, type RunLogFollower } from "./run-log-follower.ts";
import { queuePlaceOf, specTasksOf } from "./run-reads.ts";

/** At most one live render per this many ms, however busy the run. */
const LIVE_THROTTLE_MS = 200;
/** A render this often anyway, so running durations move. */
const LIVE_TICK_MS = 2_000;
/** New log lines gather for this long between messages, so a chatty task makes few of them. */
const LOG_BATCH_MS = 100;

/** The stream of a run whose page shows the lines up to `shown`. */
export async function streamRun(c: Context<AppEnv>, key: RunKey, shown: LogPositions): Promise<Response> {
  const deps = c.get("deps");
  const { namespace: ns, id, run: number } = key;
  const target = `${ns}/${id}`;
  requirePermission(c, "runs", "read", target);
  // Changes are heard from before the run is read, so one between the read and the
  // stream's start is not missed; the stream's first render is of this read.
  let renderDue = false;
  // While the run is queued, its place moves with other runs and the pause switch.
  let queued = true;
  let wakeup: Wakeup | undefined;
  const unsubscribe = deps.bus.subscribe((message) => {
    const ours = message.namespace === ns && message.pipeline === id && message.run === number;
    if (!ours && !(queued && /^(run|system)\./.test(message.kind))) return;
    renderDue = true;
    wakeup?.wake();
  });
  let run: RunWithTasks;
  let specTasks: SpecTask[];
  let queuePlace: QueuePlace | undefined;
  let session: PageSession;
  try {
    run = await requireRun(deps.db, key);
    [specTasks, queuePlace, session] = await Promise.all([specTasksOf(deps, run), queuePlaceOf(deps, run), pageSession(c, runPath(run))]);
  } catch (error) {
    unsubscribe();
    throw error;
  }
  queued = run.state === "queued";
  const canWrite = may(c, "runs", "write", target);
  // The page says which lines it shows; a reconnecting browser says what it got since, in
  // the id of the last message it read (one it cannot decode is ignored).
  const resumed = decodePositions(c.req.header("last-event-id"));
  const from: LogPositions = new Map([...shown, ...(resumed ?? [])]);
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
            queuePlace = await queuePlaceOf(deps, run);
            queued = run.state === "queued";
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
              <RunLive
                run={run}
                specTasks={specTasks}
                now={at}
                session={session}
                canWrite={canWrite}
                canExec={may(c, "runs", "exec", target)}
                readsLogs={follower !== undefined}
                // From this render's permissions: the gates' forms follow a change of role.
                // Only a run with gates needs to know who decides (a lookup for a person's roles).
                decider={run.tasks.some((task) => task.kind === "approval") ? await deciderOf(deps.db, c.get("token"), c.get("permissions"), ns, id) : undefined}
                {...(queuePlace && { queuePlace })}
              />
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
}
