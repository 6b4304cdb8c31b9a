// `gantry user ls|get|disable|enable|grant|revoke`: people who sign in through an identity
// provider. Disabling stops their sessions and personal tokens at once.
import { createApiClient } from "./api-client.ts";
import { userAnswer, userListAnswer, type UserJson } from "../api-contract/answers.ts";
import { parseArguments, takePositionals } from "./arguments.ts";
import { dispatch, type Subcommand } from "./command.ts";
import { UsageError } from "./errors.ts";
import { formatTime, paint, printJson, table } from "./output.ts";

function userPath(id: string, action = ""): string {
  // The same rule the server applies, so a typo is a usage error before any request.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new UsageError(`"${id}" is not a user id (see gantry user ls)`);
  return `/users/${encodeURIComponent(id)}${action}`;
}

const state = (user: UserJson) => (user.disabledAt ? paint("red", `disabled ${formatTime(user.disabledAt)}`) : paint("green", "active"));

/** "admin, deploy (granted)": mapped roles plain, granted ones marked. */
function rolesText(user: UserJson): string {
  const roles = user.roles.map((role) => (user.grantedRoles.includes(role) && !user.mappedRoles.includes(role) ? `${role} (granted)` : role));
  return roles.join(", ") || "none";
}

function printUser(user: UserJson): void {
  console.log(`${paint("bold", user.name)}  ${user.id}`);
  const lines: [string, string][] = [
    ["provider", `${user.provider} (subject ${user.subject})`],
    ["login", user.login ?? "-"],
    ["email", user.email ?? "-"],
    ["groups", user.groups.join(", ") || "none"],
    ["mapped roles", user.mappedRoles.join(", ") || "none"],
    ["granted roles", user.grantedRoles.join(", ") || "none"],
    ["roles", user.roles.join(", ") || "none"],
    ["last sign-in", formatTime(user.lastSignInAt)],
    ["state", user.disabledAt ? `${state(user)} by ${user.disabledBy ?? "?"}` : state(user)],
  ];
  for (const [label, value] of lines) console.log(`  ${label.padEnd(14)} ${value}`);
}

const ls: Subcommand = {
  usage: "gantry user ls [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    takePositionals(positionals, []);
    const { data, raw } = await createApiClient().json("GET", "/users", userListAnswer);
    if (values.json) {
      printJson(raw);
      return 0;
    }
    if (data.users.length === 0) {
      console.log("No one has signed in through an identity provider yet.");
      return 0;
    }
    const rows = data.users.map((user) => [user.id, user.name, user.login ?? user.email ?? "", user.provider, rolesText(user), formatTime(user.lastSignInAt), state(user)]);
    console.log(table(["ID", "NAME", "LOGIN", "PROVIDER", "ROLES", "LAST SIGN-IN", "STATE"], rows));
    return 0;
  },
};

const get: Subcommand = {
  usage: "gantry user get <id> [--json]",
  async run(args) {
    const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
    const [id] = takePositionals(positionals, ["id"]);
    const { data, raw } = await createApiClient().json("GET", userPath(id!), userAnswer);
    if (values.json) printJson(raw);
    else printUser(data.user);
    return 0;
  },
};

/** disable and enable: a POST without a body, then the person's state. */
function toggle(action: "disable" | "enable"): Subcommand {
  return {
    usage: `gantry user ${action} <id> [--json]`,
    async run(args) {
      const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
      const [id] = takePositionals(positionals, ["id"]);
      const { data, raw } = await createApiClient().json("POST", userPath(id!, `/${action}`), userAnswer);
      if (values.json) printJson(raw);
      else if (action === "disable") console.log(`disabled ${data.user.name} (${data.user.id}): their sessions and personal tokens are revoked`);
      else console.log(`enabled ${data.user.name} (${data.user.id}): they can sign in again`);
      return 0;
    },
  };
}

/** grant and revoke: roles given as further arguments. */
function roles(action: "grant" | "revoke"): Subcommand {
  return {
    usage: `gantry user ${action} <id> <role>... [--json]`,
    async run(args) {
      const { values, positionals } = parseArguments(args, { json: { type: "boolean" } });
      const [id, ...wanted] = positionals;
      if (id === undefined || wanted.length === 0) throw new UsageError(`name a user id and at least one role to ${action}`);
      const { data, raw } = await createApiClient().json("POST", userPath(id, `/${action}`), userAnswer, { roles: wanted });
      if (values.json) printJson(raw);
      else console.log(`${action === "grant" ? "granted" : "revoked"} ${wanted.join(", ")} ${action === "grant" ? "to" : "from"} ${data.user.name}; roles now: ${data.user.roles.join(", ") || "none"}`);
      return 0;
    },
  };
}

export function userCommand(args: string[]): Promise<number> {
  return dispatch("user", args, { ls, get, disable: toggle("disable"), enable: toggle("enable"), grant: roles("grant"), revoke: roles("revoke") }, { list: "ls" });
}
