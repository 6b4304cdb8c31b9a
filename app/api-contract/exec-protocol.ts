// The exec WebSocket's messages (GET /api/v1/pipelines/:ns/:id/runs/:run/tasks/:task/exec),
// shared by the server and the CLI. Binary frames carry bytes: from the client, the command's
// input as is; from the server, one byte naming the stream (1 stdout, 2 stderr; a TTY session
// has only 1) and then the output. Text frames are JSON control messages, these.
import * as v from "valibot";

/** Terminal sizes past this are someone's mistake; Docker takes up to 65535. */
export const MAX_TERMINAL_SIZE = 1000;

const size = v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(MAX_TERMINAL_SIZE, `must be at most ${MAX_TERMINAL_SIZE}`));

/** From the client: the terminal was resized; no more input (stdin ends, e.g. a pipe into `cat` closed). */
export const execClientMessage = v.variant("type", [
  v.strictObject({ type: v.literal("resize"), cols: size, rows: size }),
  v.strictObject({ type: v.literal("eof") }),
]);
export type ExecClientMessage = v.InferOutput<typeof execClientMessage>;

/** From the server: the command ended with this code (null: the engine could not say), then the socket closes; or the session failed after it began. */
export const execServerMessage = v.variant("type", [
  v.strictObject({ type: v.literal("exit"), code: v.nullable(v.number()) }),
  v.strictObject({ type: v.literal("error"), message: v.string() }),
]);
export type ExecServerMessage = v.InferOutput<typeof execServerMessage>;

/** The stream byte before each binary frame of output from the server. */
export const EXEC_STDOUT = 1;
export const EXEC_STDERR = 2;
