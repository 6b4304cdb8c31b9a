// GET /api/v1/pipelines/:ns/:id/runs/:run/tasks/:task/exec: a command (a shell unless told)
// in a running container task over a WebSocket (api-contract/exec-protocol.ts). Refusals are
// answered as JSON before the socket is upgraded; the work is engine/runs/exec-task.ts's.
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/bun";
import { HTTPException } from "hono/http-exception";
import type { WSContext } from "hono/ws";
import * as v from "valibot";
import { EXEC_STDERR, EXEC_STDOUT, execClientMessage, MAX_TERMINAL_SIZE, type ExecServerMessage } from "../../api-contract/exec-protocol.ts";
import { permissionsOf, tokenHolder } from "../../auth/roles.ts";
import { authenticate } from "../../auth/tokens.ts";
import { allows } from "../../domain/permissions.ts";
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
      "A command in a running container task (an interactive sh unless cmd= names one, once per argument) over a WebSocket: binary frames are input, and output after a stream byte (1 stdout, 2 stderr); text frames are JSON: { type: \"resize\", cols, rows } and { type: \"eof\" } from the client, { type: \"exit\", code } (then the socket closes) or { type: \"error\", message } from the server. Output is masked like the task's log; each session is an event (task.exec_started, task.exec_ended). Refused as JSON before the upgrade: 404 no such run or task, 409 the task is not running, not a container task or runs on a swarm, 403 a run from a fork's pull request, 429 when the task has 4 sessions open (or the token 16), 426 without a WebSocket upgrade. Output waits while the client reads slowly; a session ends (close 1008) once its token may no longer open it (checked every 5 s), and (close 1009) when the command leaves over 4 MiB of input unread; messages are at most 1 MiB",
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
        tokenId: c.get("token").id,
      },
    );
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HTTPException(426, { message: `${c.req.path} speaks WebSocket only: connect with "Upgrade: websocket" (gantry run exec does)` });
    }
    // The session lives on only while its token may still open it (revoked, expired, its role changed: it ends).
    const secret = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
    const target = `${ns}/${id}`;
    const stillAllowed = async (): Promise<string | undefined> => {
      try {
        const token = await authenticate(deps.db, secret, deps.now());
        return allows(await permissionsOf(deps.db, token), "runs", "exec", target) ? undefined : `your token no longer holds runs:exec on ${target}`;
      } catch (error) {
        return `your token no longer opens this session: ${messageOf(error)}`;
      }
    };
    return upgradeWebSocket(c, sessionEvents(prepared, stillAllowed));
  },
);

/** Output queued for a client past this pauses the command's output until the client catches up. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
const OUTPUT_LOW_WATER = 256 * 1024;
const OUTPUT_CHECK_MS = 20;
/** How often an open session's token is checked again. */
export const EXEC_RECHECK_MS = 5_000;

/** What Bun's socket under hono's WSContext tells of its send queue. */
const bufferedAmount = (ws: WSContext): number => (ws.raw as { getBufferedAmount?: () => number } | undefined)?.getBufferedAmount?.() ?? 0;

/** The socket's side of a session: output out (paused while the client is behind), input and resizes in, the exit code last. */
function sessionEvents(prepared: PreparedTaskExec, stillAllowed: () => Promise<string | undefined>) {
  let session: TaskExecSession | undefined;
  let closed = false;
  // Input that arrives while the command is being started is passed on once it has.
  const early: ((session: TaskExecSession) => unknown)[] = [];
  const apply = (action: (session: TaskExecSession) => unknown) => (session ? action(session) : early.push(action));
  const control = (ws: WSContext, message: ExecServerMessage) => ws.send(JSON.stringify(message));
  const end = (ws: WSContext, code: number, message: string) => {
    // Ended here: the command's end (which comes next) says nothing more to the client.
    closed = true;
    control(ws, { type: "error", message });
    ws.close(code, message.slice(0, 120));
    session?.close();
  };
  // Resizes: the latest one wins, one call to the engine at a time (a flood of them is one).
  let resizeWanted: { cols: number; rows: number } | undefined;
  let resizing = false;
  const resize = async (open: TaskExecSession) => {
    if (resizing) return;
    resizing = true;
    while (resizeWanted) {
      const { cols, rows } = resizeWanted;
      resizeWanted = undefined;
      await open.resize(cols, rows);
    }
    resizing = false;
  };
  let paused: ReturnType<typeof setInterval> | undefined;
  let recheck: ReturnType<typeof setInterval> | undefined;
  return {
    async onOpen(_: Event, ws: WSContext) {
      try {
        session = await prepared.start((stream, bytes) => {
          const frame = new Uint8Array(bytes.length + 1);
          frame[0] = stream === 2 ? EXEC_STDERR : EXEC_STDOUT;
          frame.set(bytes, 1);
          ws.send(frame);
          // Nothing is dropped for a slow client: the command's output waits instead.
          if (!paused && bufferedAmount(ws) > OUTPUT_HIGH_WATER && session) {
            const open = session;
            open.pause();
            paused = setInterval(() => {
              if (closed || bufferedAmount(ws) < OUTPUT_LOW_WATER) {
                clearInterval(paused);
                paused = undefined;
                open.resume();
              }
            }, OUTPUT_CHECK_MS);
          }
        });
      } catch (error) {
        control(ws, { type: "error", message: `the command could not be started: ${messageOf(error)}` });
        ws.close(1011, "exec failed");
        return;
      }
      if (closed) return session.close();
      for (const action of early.splice(0)) action(session);
      recheck = setInterval(() => {
        void stillAllowed().then((refused) => {
          if (refused && !closed) end(ws, 1008, refused);
        });
      }, EXEC_RECHECK_MS);
      const code = await session.exited;
      clearInterval(recheck);
      if (closed) return;
      control(ws, { type: "exit", code });
      ws.close(1000, "exited");
    },
    onMessage(event: MessageEvent, ws: WSContext) {
      const { data } = event;
      if (typeof data !== "string") {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data as ArrayBufferLike);
        apply((open) => {
          if (!open.write(bytes)) end(ws, 1009, "the command leaves its input unread: the session ends rather than hold more");
        });
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
      if (output.type === "resize") {
        resizeWanted = { cols: output.cols, rows: output.rows };
        apply((open) => resize(open));
      } else apply((open) => open.endInput());
    },
    onClose() {
      closed = true;
      clearInterval(paused);
      clearInterval(recheck);
      session?.close();
    },
  };
}
