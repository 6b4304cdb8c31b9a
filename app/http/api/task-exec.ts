// GET /api/v1/pipelines/:ns/:id/runs/:run/tasks/:task/exec: a command (a shell unless told)
// in a running container task over a WebSocket (api-contract/exec-protocol.ts). Refusals are
// answered as JSON before the socket is upgraded; the work is engine/runs/exec-task.ts's.
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/bun";
import { HTTPException } from "hono/http-exception";
import type { WSContext } from "hono/ws";
import * as v from "valibot";
import { EXEC_STDERR, EXEC_STDOUT, execClientMessage, MAX_TERMINAL_SIZE, type ExecServerMessage } from "../../api-contract/exec-protocol.ts";
import { tokenHolder } from "../../auth/roles.ts";
import { messageOf } from "../../domain/errors.ts";
import { prepareTaskExec, type PreparedTaskExec, type TaskExecSession } from "../../engine/runs/exec-task.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { taskParams } from "../params.ts";
import { validate } from "../validate.ts";
import { doc } from "./route-doc.ts";

/** Arguments of one command, and the length of each: a command line, not a file. */
const MAX_ARGS = 256;
const MAX_ARG_LENGTH = 64 * 1024;

const sizeQuery = v.optional(
  v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(MAX_TERMINAL_SIZE, `must be at most ${MAX_TERMINAL_SIZE}`)),
);

const execQuery = v.object({
  // Repeated for each argument: ?cmd=sh&cmd=-c&cmd=echo%20hi. Absent: an interactive sh.
  cmd: v.optional(
    v.pipe(
      v.union([v.string(), v.array(v.string())], "must be the command's arguments, one cmd= each"),
      v.transform((value) => (typeof value === "string" ? [value] : value)),
      v.minLength(1, "must name a command"),
      v.maxLength(MAX_ARGS, `must be at most ${MAX_ARGS} arguments`),
      v.check((args) => args[0] !== "" && args.every((arg) => arg.length <= MAX_ARG_LENGTH), `must name a command, each argument at most ${MAX_ARG_LENGTH} characters`),
    ),
  ),
  tty: v.optional(v.picklist(["0", "1"], 'must be "1" (a terminal, the default) or "0" (plain pipes)'), "1"),
  cols: sizeQuery,
  rows: sizeQuery,
});

export const taskExecApi = new Hono<AppEnv>().get(
  "/:ns/:id/runs/:run/tasks/:task/exec",
  doc({
    summary:
      "A command in a running container task (an interactive sh unless cmd= names one, once per argument) over a WebSocket: binary frames are input, and output after a stream byte (1 stdout, 2 stderr); text frames are JSON: { type: \"resize\", cols, rows } and { type: \"eof\" } from the client, { type: \"exit\", code } (then the socket closes) or { type: \"error\", message } from the server. Output is masked like the task's log; each session is an event (task.exec_started, task.exec_ended). Refused as JSON before the upgrade: 404 no such run or task, 409 the task is not running, not a container task or runs on a swarm, 403 a run from a fork's pull request, 426 without a WebSocket upgrade",
    permission: "runs:exec",
    success: 101,
    response: { mediaType: "application/octet-stream", description: "a WebSocket (101 Switching Protocols), speaking the exec protocol" },
  }),
  permit("runs", "exec", pipelineTarget),
  validate("param", taskParams),
  validate("query", execQuery),
  async (c) => {
    const deps = c.get("deps");
    const { ns, id, run, task } = c.req.valid("param");
    const query = c.req.valid("query");
    const prepared = await prepareTaskExec(
      { db: deps.db, bus: deps.bus, now: deps.now, containerExec: deps.containerExec, resolveSecret: (pipeline, name) => deps.secrets.resolve(pipeline, name) },
      {
        key: { namespace: ns, id, run },
        task,
        command: query.cmd ?? ["sh"],
        tty: query.tty === "1",
        ...(query.cols !== undefined && { cols: query.cols }),
        ...(query.rows !== undefined && { rows: query.rows }),
        by: (await tokenHolder(deps.db, c.get("token"))).name,
      },
    );
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HTTPException(426, { message: `${c.req.path} speaks WebSocket only: connect with "Upgrade: websocket" (gantry run exec does)` });
    }
    return upgradeWebSocket(c, sessionEvents(prepared));
  },
);

/** The socket's side of a session: output out, input and resizes in, the exit code last. */
function sessionEvents(prepared: PreparedTaskExec) {
  let session: TaskExecSession | undefined;
  let closed = false;
  // Input that arrives while the command is being started is passed on once it has.
  const early: ((session: TaskExecSession) => unknown)[] = [];
  const apply = (action: (session: TaskExecSession) => unknown) => (session ? action(session) : early.push(action));
  const control = (ws: WSContext, message: ExecServerMessage) => ws.send(JSON.stringify(message));
  return {
    async onOpen(_: Event, ws: WSContext) {
      try {
        session = await prepared.start((stream, bytes) => {
          const frame = new Uint8Array(bytes.length + 1);
          frame[0] = stream === 2 ? EXEC_STDERR : EXEC_STDOUT;
          frame.set(bytes, 1);
          ws.send(frame);
        });
      } catch (error) {
        control(ws, { type: "error", message: `the command could not be started: ${messageOf(error)}` });
        ws.close(1011, "exec failed");
        return;
      }
      if (closed) return session.close();
      for (const action of early.splice(0)) action(session);
      const code = await session.exited;
      if (closed) return;
      control(ws, { type: "exit", code });
      ws.close(1000, "exited");
    },
    onMessage(event: MessageEvent, ws: WSContext) {
      const { data } = event;
      if (typeof data !== "string") {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data as ArrayBufferLike);
        apply((open) => open.write(bytes));
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        parsed = undefined;
      }
      const message = v.safeParse(execClientMessage, parsed);
      if (!message.success) return control(ws, { type: "error", message: `not a control message (${message.issues[0].message}): send { type: "resize", cols, rows } or { type: "eof" } as text, input as binary` });
      const { output } = message;
      apply((open) => (output.type === "resize" ? open.resize(output.cols, output.rows) : open.endInput()));
    },
    onClose() {
      closed = true;
      session?.close();
    },
  };
}
