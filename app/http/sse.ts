// Server-sent event streams that survive quiet periods, and end when the caller's session
// or token no longer stands (logout, revocation, expiry) instead of running on for hours.
import type { Context } from "hono";
import { getBunServer } from "hono/bun";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import { permissionsOf } from "../auth/roles.ts";
import { activeToken } from "../auth/tokens.ts";
import type { AppEnv } from "./env.ts";
import { readSessionCookie } from "./middleware/session.ts";

const HEARTBEAT_MS = 5_000;

/** A stream loop's waits: woken early by changes, and all of them ended when the stream ends. */
export interface Wakeup {
  /** Ends the current sleep; with none under way, the next sleep returns at once, so a change is never missed. */
  wake(): void;
  /** Waits up to `ms`; true when woken (now or since the last sleep), false on timeout or when the stream ended. */
  sleep(ms: number): Promise<boolean>;
  /** Waits `ms` whatever changes come (a throttle; they are kept for the next sleep), or until the stream ends. */
  pause(ms: number): Promise<void>;
}

export function createWakeup(signal: AbortSignal): Wakeup {
  let woken = false;
  let endSleep: (() => void) | undefined;
  const wait = (ms: number, wakeable: boolean) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (endSleep === done) endSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
      if (wakeable) endSleep = done;
    });
  return {
    wake() {
      woken = true;
      endSleep?.();
    },
    async sleep(ms) {
      if (!woken) await wait(ms, true);
      const result = woken;
      woken = false;
      return result;
    },
    pause: (ms) => wait(ms, false),
  };
}

/** Whether the stream's credentials still stand; refreshes its permissions (roles may have changed). */
async function credentialsStand(c: Context<AppEnv>): Promise<boolean> {
  const deps = c.get("deps");
  if (c.get("session")) {
    const active = await deps.sessions.verify(readSessionCookie(c), { activity: false });
    if (!active) return false;
    c.set("permissions", await permissionsOf(deps.db, active.token));
    return true;
  }
  const presented = c.get("token");
  if (!presented) return true;
  const token = await activeToken(deps.db, presented.id, deps.now());
  if (!token) return false;
  c.set("permissions", await permissionsOf(deps.db, token));
  return true;
}

/**
 * Streams SSE; Bun's 10 s idle timeout is lifted, a `:` comment is sent every few seconds,
 * and every GANTRY_STREAM_RECHECK the session or token is checked again (the stream ends
 * when it is gone).
 */
export function sse(c: Context<AppEnv>, body: (stream: SSEStreamingApi, signal: AbortSignal) => Promise<void>): Response {
  const server = getBunServer<{ timeout?: (req: Request, seconds: number) => void }>(c);
  server?.timeout?.(c.req.raw, 0);
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => controller.abort());
    // A first comment sends the headers now: a quiet stream would otherwise look pending to
    // clients until its first heartbeat.
    await stream.write(": connected\n\n");
    const heartbeat = setInterval(() => void stream.write(": heartbeat\n\n").catch(() => controller.abort()), HEARTBEAT_MS);
    const recheck = setInterval(
      () =>
        void credentialsStand(c).then(
          (stands) => stands || controller.abort(),
          () => undefined, // a database hiccup is not a revocation; the next check decides
        ),
      c.get("deps").config.streamRecheckMs,
    );
    try {
      await body(stream, controller.signal);
    } finally {
      clearInterval(heartbeat);
      clearInterval(recheck);
    }
  });
}
