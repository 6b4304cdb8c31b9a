// `gantry secret set|ls|rm|rotate-key`: global and pipeline secrets. A value is read from
// stdin or a hidden prompt, never from the command line, and the server never sends it back.
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../domain/secrets.ts";
import { createApiClient } from "./api-client.ts";
import { deletedAnswer, rotatedKeyAnswer, secretAnswer, secretListAnswer } from "../api-contract/answers.ts";
import { formatPipelineRef, parseArguments, parsePipelineRef, pipelinePath, takePositionals, type PipelineRef } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { formatTime, paint, printJson, table } from "./output.ts";

const NO_VALUE_ON_ARGV =
  "a secret value is never taken from the command line: other users see it in `ps` and your shell keeps it in its history. " +
  "Pipe it on stdin (gantry secret set NAME < file, or printf %s \"$VALUE\" | gantry secret set NAME) or type it at the prompt";

const pipelineOption = { pipeline: { type: "string", short: "p" } } as const;

/** The server's rule, checked here so a typo fails before the prompt. */
function parseName(text: string): string {
  if (!SECRET_NAME_PATTERN.test(text)) throw new UsageError(`"${text}" is not a secret name: ${SECRET_NAME_RULE}`);
  return text;
}

/** The API path of the secrets of a scope: global, or the pipeline's own. */
function secretsPath(pipeline: PipelineRef | undefined): string {
  return pipeline ? `${pipelinePath(pipeline)}/secrets` : "/secrets";
}

function scopeText(pipeline: PipelineRef | undefined): string {
  return pipeline ? `pipeline ${formatPipelineRef(pipeline)}` : "global";
}

const set: Subcommand = {
  usage: "gantry secret set <name> [--pipeline <ns/id>]   (value on stdin, or typed at a hidden prompt)",
  async run(args) {
    // Refused before parsing, so the message says why instead of "unknown option".
    const end = args.indexOf("--");
    if ((end === -1 ? args : args.slice(0, end)).some((arg) => arg === "--value" || arg.startsWith("--value="))) {
      throw new UsageError(NO_VALUE_ON_ARGV);
    }
    const { values, positionals } = parseArguments(args, pipelineOption);
    if (positionals.length > 1) throw new UsageError(NO_VALUE_ON_ARGV);
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    const pipeline = values.pipeline === undefined ? undefined : parsePipelineRef(values.pipeline);
    const client = createApiClient();
    const value = process.stdin.isTTY ? await promptTwice(name) : await readStdinValue();
    const { data, status } = await client.json("PUT", `${secretsPath(pipeline)}/${encodeURIComponent(name)}`, secretAnswer, { value });
    console.log(`${status === 201 ? "created" : "updated"} secret ${data.secret.name} (${scopeText(pipeline)})`);
    // Said on stderr: masking may miss parts of such a value in task logs.
    if (data.secret.warning) console.error(`warning: ${data.secret.warning}`);
    return 0;
  },
};

const ls: Subcommand = {
  usage: "gantry secret ls [--pipeline <ns/id>] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { ...pipelineOption, json: { type: "boolean" } });
    takePositionals(positionals, []);
    const pipeline = values.pipeline === undefined ? undefined : parsePipelineRef(values.pipeline);
    const { data, raw } = await createApiClient().json("GET", secretsPath(pipeline), secretListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.secrets.length === 0) {
      console.log(`no ${pipeline ? `secrets of pipeline ${formatPipelineRef(pipeline)}` : "global secrets"}`);
      return 0;
    }
    const rows = data.secrets.map((secret) => [secret.name, secret.scope, formatTime(secret.createdAt), formatTime(secret.updatedAt), secret.warning ?? ""]);
    console.log(table(["NAME", "SCOPE", "CREATED", "UPDATED", "WARNING"], rows));
    return 0;
  },
};

const rm: Subcommand = {
  usage: "gantry secret rm <name> [--pipeline <ns/id>]",
  async run(args) {
    const { values, positionals } = parseArguments(args, pipelineOption);
    const [nameText] = takePositionals(positionals, ["name"]);
    const name = parseName(nameText!);
    const pipeline = values.pipeline === undefined ? undefined : parsePipelineRef(values.pipeline);
    await createApiClient().json("DELETE", `${secretsPath(pipeline)}/${encodeURIComponent(name)}`, deletedAnswer);
    console.log(`deleted secret ${name} (${scopeText(pipeline)})`);
    return 0;
  },
};

const rotateKey: Subcommand = {
  usage: "gantry secret rotate-key [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("POST", "/secrets/rotate-key", rotatedKeyAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    console.log(`re-encrypted ${data.reencrypted} secret${data.reencrypted === 1 ? "" : "s"} under a new key (id ${data.keyId})`);
    if (data.newKey) {
      // The server's key came from GANTRY_SECRET_KEY, which it cannot rewrite: this is the only copy.
      console.log(`\n  ${paint("bold", data.newKey)}\n`);
      console.log("This key is shown only this once. Set GANTRY_SECRET_KEY to it before the server's next restart:");
      console.log("with the old key the server refuses to start, and the secrets cannot be read without this one.");
    } else {
      console.log("The server wrote the new key to its key file (<data>/secret-key).");
    }
    return 0;
  },
};

export function secretCommand(args: string[]): Promise<number> {
  return dispatch("secret", args, { set, ls, rm, "rotate-key": rotateKey }, { list: "ls", delete: "rm", remove: "rm" });
}

/** The whole of stdin, less ONE trailing newline (what `echo` and most editors add). */
async function readStdinValue(): Promise<string> {
  const text = await Bun.stdin.text();
  const value = text.replace(/\r?\n$/, "");
  if (value === "") throw new UsageError("no value on stdin: pipe the secret in (gantry secret set NAME < file), or run it at a terminal to be asked");
  return value;
}

/** Asks for the value twice without echo, so a typo is not stored silently. */
async function promptTwice(name: string): Promise<string> {
  const reader = createHiddenReader();
  try {
    const first = await reader.ask(`value of secret ${name}: `);
    if (first === "") throw new CliError("no value typed; nothing was stored");
    const second = await reader.ask("again, to confirm: ");
    if (first !== second) throw new CliError("the two values differ; nothing was stored");
    return first;
  } finally {
    reader.close();
  }
}

/**
 * Reads lines from the terminal in raw mode, echoing nothing. Keystrokes typed ahead (or
 * pasted) past an Enter are kept for the next question rather than lost.
 */
function createHiddenReader() {
  const stdin = process.stdin;
  let buffered = "";
  let waiting: (() => void) | undefined;
  // A pasted "\r\n" ends one answer, not two.
  let afterCarriageReturn = false;
  const onData = (chunk: Buffer | string) => {
    buffered += chunk.toString();
    waiting?.();
  };
  stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.resume();
  const next = async (): Promise<string> => {
    while (buffered === "") await new Promise<void>((resolve) => (waiting = resolve));
    waiting = undefined;
    const char = String.fromCodePoint(buffered.codePointAt(0)!);
    buffered = buffered.slice(char.length);
    return char;
  };
  return {
    async ask(question: string): Promise<string> {
      // The question goes to stderr so `gantry secret set X > out` keeps stdout clean.
      process.stderr.write(question);
      let value = "";
      for (;;) {
        let char = await next();
        if (afterCarriageReturn && char === "\n") char = await next();
        afterCarriageReturn = char === "\r";
        if (char === "\r" || char === "\n") break;
        // Raw mode delivers Ctrl-C and Ctrl-D as characters, not signals.
        if (char === "\u0003") {
          process.stderr.write("\n");
          throw new CliError("cancelled; nothing was stored");
        }
        if (char === "\u0004") {
          if (value === "") {
            process.stderr.write("\n");
            throw new CliError("no value typed; nothing was stored");
          }
          break;
        }
        if (char === "\u007f" || char === "\b") value = [...value].slice(0, -1).join("");
        else if (char === "\u0015") value = "";
        else if (char === "\u001b") {
          // An escape sequence (an arrow key): "[" then up to a final letter or "~", or "O" and one letter.
          const kind = await next();
          if (kind === "[") while (!/[A-Za-z~]/.test(await next()));
          else if (kind === "O") await next();
        } else if (char >= " ") value += char;
      }
      process.stderr.write("\n");
      return value;
    },
    close() {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
    },
  };
}
