// `gantry run exec <ns/id> <run> <task> [-- cmd...]`: a shell (or a command) in a running
// container task, through the API's exec WebSocket (api-contract/exec-protocol.ts). At a
// terminal it is raw and follows the window's size; otherwise stdin and stdout are plain
// pipes. Exits with the command's exit code; a refusal is the server's message and exit 2.
import * as v from "valibot";
import { EXEC_STDERR, execServerMessage, MAX_TERMINAL_SIZE, type ExecClientMessage } from "../api-contract/exec-protocol.ts";
import { idSchema } from "../domain/ids.ts";
import { ApiError, createApiClient, type ApiClient } from "./api-client.ts";
import { parseArguments, parsePipelineRef, parseRunNumber, pipelinePath, takePositionals } from "./arguments.ts";
import type { Subcommand } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";

/** A window's size as the server takes it: a huge terminal is shown at the largest size it allows. */
const sized = (value: number) => Math.min(MAX_TERMINAL_SIZE, Math.max(1, value));

/** What an ended session settles with: the exit code to leave with. */
type Outcome = { code: number } | { error: CliError };

export const exec: Subcommand = {
  usage: "gantry run exec <ns/id> <run> <task> [-- command [args...]]",
  async run(args) {
    // Everything after "--" is the command's, flags included.
    const dashes = args.indexOf("--");
    const own = dashes === -1 ? args : args.slice(0, dashes);
    const command = dashes === -1 ? ["sh"] : args.slice(dashes + 1);
    if (command.length === 0 || command[0] === "") throw new UsageError("nothing after --: name a command, or leave -- out for an interactive sh");
    const { positionals } = parseArguments(own, {});
    const [refText, runText, task] = takePositionals(positionals, ["ns/id", "run", "task"]);
    const ref = parsePipelineRef(refText!);
    const run = parseRunNumber(runText!);
    if (!v.is(idSchema, task)) throw new UsageError(`"${task}" is not a task id (a-z, 0-9 and -)`);
    const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const query = new URLSearchParams(command.map((arg): [string, string] => ["cmd", arg]));
    query.set("tty", tty ? "1" : "0");
    if (tty && process.stdout.columns && process.stdout.rows) {
      query.set("cols", String(sized(process.stdout.columns)));
      query.set("rows", String(sized(process.stdout.rows)));
    }
    const path = `${pipelinePath(ref)}/runs/${run}/tasks/${encodeURIComponent(task!)}/exec?${query}`;
    const client = createApiClient();
    const outcome = await session(client, path, tty);
    if ("error" in outcome) throw outcome.error;
    return outcome.code;
  },
};

function session(client: ApiClient, path: string, tty: boolean): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const socket = client.socket(path);
    socket.binaryType = "arraybuffer";
    let opened = false;
    let outcome: Outcome | undefined;
    const send = (message: ExecClientMessage) => socket.send(JSON.stringify(message));
    const onInput = (chunk: Buffer) => socket.send(chunk);
    const onEnd = () => send({ type: "eof" });
    const onResize = () => {
      if (process.stdout.columns && process.stdout.rows) send({ type: "resize", cols: sized(process.stdout.columns), rows: sized(process.stdout.rows) });
    };
    // A terminal left raw is unusable: it is restored however the CLI ends (a signal, a throw).
    const restoreTerminal = () => {
      if (tty && process.stdin.isTTY) process.stdin.setRawMode(false);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      restoreTerminal();
      socket.close();
      process.exit(signal === "SIGHUP" ? 129 : 143);
    };
    const cleanUp = () => {
      process.stdin.off("data", onInput);
      process.stdin.off("end", onEnd);
      process.off("SIGWINCH", onResize);
      process.off("SIGTERM", onSignal);
      process.off("SIGHUP", onSignal);
      process.off("exit", restoreTerminal);
      restoreTerminal();
      process.stdin.pause();
    };

    socket.addEventListener("open", () => {
      opened = true;
      // Raw: keys (Ctrl-C included) go to the command, whose terminal echoes them.
      if (tty) {
        process.once("SIGTERM", onSignal);
        process.once("SIGHUP", onSignal);
        process.once("exit", restoreTerminal);
        process.stdin.setRawMode(true);
      }
      process.stdin.on("data", onInput);
      process.stdin.on("end", onEnd);
      if (tty) process.on("SIGWINCH", onResize);
      process.stdin.resume();
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        const frame = new Uint8Array(event.data as ArrayBuffer);
        (frame[0] === EXEC_STDERR ? process.stderr : process.stdout).write(frame.subarray(1));
        return;
      }
      const parsed = v.safeParse(execServerMessage, safeJson(event.data));
      if (!parsed.success) return;
      const message = parsed.output;
      if (message.type === "error") outcome = { error: new CliError(message.message) };
      else if (message.code === null) outcome = { error: new CliError("the command ended, but the Docker engine did not say with which exit code") };
      else outcome = { code: message.code };
    });
    socket.addEventListener("close", () => {
      cleanUp();
      if (outcome) return resolve(outcome);
      if (opened) return resolve({ error: new CliError(`the session with ${client.url} ended before the command did`) });
      // Refused before the upgrade: the same request without it answers the refusal as JSON.
      refusal(client, path).then((error) => resolve({ error }));
    });
  });
}

/** Why the server did not upgrade: its JSON error (a 426 means everything else was fine, so something in between dropped the upgrade). */
async function refusal(client: ApiClient, path: string): Promise<CliError> {
  try {
    await client.text(path);
  } catch (error) {
    if (error instanceof CliError && !(error instanceof ApiError && error.status === 426)) return error;
  }
  return new CliError(`${client.url} did not accept the WebSocket: is a proxy in front of it dropping "Upgrade: websocket"?`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
