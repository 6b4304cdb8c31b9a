// Server-sent event streams that survive quiet periods.
import type { Context } from "hono";
import { getBunServer } from "hono/bun";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";

const HEARTBEAT_MS = 5_000;

/** Streams SSE; Bun's 10 s idle timeout is lifted and a `:` comment is sent every few seconds. */
export function sse(c: Context, body: (stream: SSEStreamingApi, signal: AbortSignal) => Promise<void>): Response {
  const server = getBunServer<{ timeout?: (req: Request, seconds: number) => void }>(c);
  server?.timeout?.(c.req.raw, 0);
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => controller.abort());
    const heartbeat = setInterval(() => void stream.write(": heartbeat\n\n").catch(() => controller.abort()), HEARTBEAT_MS);
    try {
      await body(stream, controller.signal);
    } finally {
      clearInterval(heartbeat);
    }
  });
}
