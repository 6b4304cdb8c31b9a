// Issue 11: run tokens (issued to tasks) were recognised by a name prefix ("run <run key>
// <task>") and no roles, in three places. They now carry their run, task and scope in their own
// columns, and run clean-up (at the run's end, at start, the janitor's prune) selects by those
// alone: no other token is ever taken for one, whatever its name and roles.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createToken } from "../../app/auth/tokens.ts";
import { startRun, startWithPipelines, waitForRun, type TestGantry } from "../helpers/gantry.ts";
import { webLogin } from "../helpers/web.ts";

setDefaultTimeout(60_000);

const PIPELINE = `
import { definePipeline, run } from "gantry";
export default definePipeline({ id: "tokened", tasks: { call: run(async () => {}, { injectApiToken: true }) } });
`;

interface TokenJson {
  id: string;
  name: string;
  roles: string[];
  revokedAt: string | null;
  issuedTo?: { run: string; task: string; scope: string };
}

let gantry: TestGantry;
let offsetMs = 0;
// Tokens that look exactly like run #1's (same name, no roles, their own permissions) but were
// not issued by the engine: one live, one a person revoked.
let lookAlike: { id: string; secret: string };
let revokedLookAlike: { id: string };

const env = { GANTRY_RUN_SANDBOX: "off" };
const now = () => new Date(Date.now() + offsetMs);

beforeAll(async () => {
  gantry = await startWithPipelines({ "tokened.ts": PIPELINE }, { env, now });
  const permissions = [{ resource: "pipelines" as const, target: "default/tokened", actions: ["read" as const] }];
  const made = await createToken(gantry.deps.db, { name: "run default/tokened#1 call", roles: [], permissions }, now());
  lookAlike = { id: made.token.id, secret: made.secret };
  revokedLookAlike = (await createToken(gantry.deps.db, { name: "run default/tokened#1 objects", roles: [], permissions }, now())).token;
  expect((await gantry.api(`/tokens/${revokedLookAlike.id}`, { method: "DELETE" })).status).toBe(200);
  // And one a person made through the API with a run-like name.
  expect((await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "run default/tokened#1 call", roles: ["viewer"] }) })).status).toBe(201);
});
afterAll(() => gantry?.stop());

const listTokens = async (server: TestGantry) => ((await (await server.api("/tokens")).json()) as { tokens: TokenJson[] }).tokens;

describe("run tokens", () => {
  it("carry their run, task and scope, shown in the listing, and are the only tokens the run's end revokes", async () => {
    const run = await waitForRun(gantry.api, "default/tokened", (await startRun(gantry.api, "default/tokened")).id);
    expect(run.state).toBe("successful");
    await gantry.deps.orchestrator.idle();
    const tokens = await listTokens(gantry);
    const issued = tokens.filter((token) => token.issuedTo);
    expect(issued.map((token) => token.issuedTo).sort((a, b) => a!.scope.localeCompare(b!.scope))).toEqual([
      { run: "default/tokened#1", task: "call", scope: "api" },
      { run: "default/tokened#1", task: "objects", scope: "objects" },
    ]);
    // The run's end revoked them, found by their run column.
    expect(issued.every((token) => token.revokedAt !== null)).toBe(true);
    const lookAlikes = tokens.filter((token) => token.name.startsWith("run ") && !token.issuedTo);
    expect(lookAlikes.length).toBe(3);
    // The look-alike with the same name and no roles lives on, and still works.
    expect(tokens.find((token) => token.id === lookAlike.id)?.revokedAt).toBeNull();
    const response = await fetch(`${gantry.url}/api/v1/pipelines/default/tokened`, { headers: { authorization: `Bearer ${lookAlike.secret}` } });
    expect(response.status).toBe(200);
  });

  it("are the only tokens the web page tags as run tokens", async () => {
    const client = await webLogin(gantry.url, gantry.token);
    const html = await (await client.get("/tokens?revoked=1")).text();
    const rows = html.split("<tr").filter((row) => row.includes(">run default/tokened#1 "));
    expect(rows.length).toBe(5);
    expect(rows.filter((row) => row.includes("admin-tag-run")).length).toBe(2);
  });

  it("are the only tokens revoked at start and deleted a day after their run (fake clock)", async () => {
    const dataDir = gantry.dataDir;
    await gantry.stop();
    gantry = await startWithPipelines({ "tokened.ts": PIPELINE }, { env, now, dataDir });
    expect((await listTokens(gantry)).find((token) => token.id === lookAlike.id)?.revokedAt).toBeNull();
    offsetMs = 25 * 3_600_000;
    expect((await gantry.deps.janitor.prune()).runTokens).toBe(2);
    const left = await listTokens(gantry);
    expect(left.filter((token) => token.issuedTo)).toEqual([]);
    // The look-alike a person revoked stays on record, as every person's revoked token does.
    expect(left.find((token) => token.id === revokedLookAlike.id)?.revokedAt).not.toBeNull();
    expect(left.find((token) => token.id === lookAlike.id)?.revokedAt).toBeNull();
  });
});
