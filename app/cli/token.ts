// `gantry token create|ls|revoke`: API tokens for people and machines. The secret is
// shown once, at creation; the server keeps only its hash.
import * as v from "valibot";
import { parseDuration } from "../domain/duration.ts";
import { createApiClient } from "./api-client.ts";
import { createdTokenAnswer, tokenAnswer, tokenListAnswer, type TokenJson } from "../api-contract/answers.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { formatTime, paint, printJson, table } from "./output.ts";

/** Least privilege when --role is left out: a read-only token. */
const DEFAULT_ROLE = "viewer";

const create: Subcommand = {
  usage: "gantry token create <name> [--role admin|viewer]... [--expires <ISO time|duration like 30d>] [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, {
      role: { type: "string", short: "r", multiple: true },
      expires: { type: "string" },
      json: { type: "boolean" },
    });
    const [name] = takePositionals(positionals, ["name"]);
    if (!name!.trim()) throw new UsageError("the token name must not be empty");
    const roles = values.role?.length ? values.role : [DEFAULT_ROLE];
    const expiresAt = values.expires === undefined ? undefined : parseExpiry(values.expires);
    const client = createApiClient();
    const { data, raw } = await client.answer(
      client.typed.POST("/tokens", { body: { name: name!, roles, ...(expiresAt && { expiresAt }) } }),
      createdTokenAnswer,
      "POST /tokens",
    );
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const { token, secret } = data;
    const expiry = token.expiresAt ? `expires ${formatTime(token.expiresAt)}` : "never expires";
    console.log(`created token ${token.id} "${token.name}" (roles: ${token.roles.join(", ")}; ${expiry})\n`);
    console.log(`  ${paint("bold", secret)}\n`);
    console.log("This secret is shown only this once: store it now, e.g. export GANTRY_TOKEN=<secret>.");
    return 0;
  },
};

const ls: Subcommand = {
  usage: "gantry token ls [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const client = createApiClient();
    const { data, raw } = await client.answer(client.typed.GET("/tokens"), tokenListAnswer, "GET /tokens");
    if (values.json) {
      printJson(raw);
      return 0;
    }
    const now = Date.now();
    const rows = data.tokens.map((token) => [
      token.id,
      token.name,
      token.roles.join(", "),
      formatTime(token.createdAt),
      token.expiresAt ? formatTime(token.expiresAt) : "never",
      tokenStatus(token, now),
    ]);
    console.log(table(["ID", "NAME", "ROLES", "CREATED", "EXPIRES", "STATUS"], rows));
    return 0;
  },
};

const revoke: Subcommand = {
  usage: "gantry token revoke <id>",
  async run(args) {
    const { positionals } = parseArguments(args, {});
    const [id] = takePositionals(positionals, ["id"]);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id!)) throw new UsageError(`"${id}" is not a token id (see gantry token ls)`);
    const client = createApiClient();
    const { data } = await client.answer(client.typed.DELETE("/tokens/{id}", { params: { path: { id: id! } } }), tokenAnswer, `DELETE /tokens/${id}`);
    console.log(`revoked token ${data.token.id} "${data.token.name}"`);
    return 0;
  },
};

export function tokenCommand(args: string[]): Promise<number> {
  return dispatch("token", args, { create, ls, revoke }, { list: "ls", rm: "revoke" });
}

/** An ISO 8601 time with a zone, or a duration from now ("30d", "12h"). */
function parseExpiry(text: string): string {
  // A bare number is not taken as milliseconds: "--expires 30" is more likely a mistake.
  const ms = /[a-z]$/.test(text.trim()) ? parseDuration(text) : undefined;
  if (ms !== undefined) return new Date(Date.now() + ms).toISOString();
  if (!v.is(v.pipe(v.string(), v.isoTimestamp()), text)) {
    throw new UsageError(`--expires "${text}" is neither an ISO time with a zone (2030-01-31T00:00:00Z) nor a duration (30d, 12h)`);
  }
  return text;
}

function tokenStatus(token: TokenJson, now: number): string {
  if (token.revokedAt) return paint("red", `revoked ${formatTime(token.revokedAt)}`);
  if (token.expiresAt && Date.parse(token.expiresAt) <= now) return paint("yellow", "expired");
  return paint("green", "active");
}
