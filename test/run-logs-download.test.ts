// "Download all logs": every task log of a run as one tar.gz, through the API and from the run
// page under a session; secrets stay masked; a token without logs:read gets nothing.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { gunzipSync } from "node:zlib";
import { readTar } from "../app/stores/tar.ts";
import { startRun, startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const PIPELINE = `import { definePipeline, run, secret } from "gantry";
export default definePipeline({ id: "chatty", tasks: {
  first: run((ctx) => { for (let i = 1; i <= 3; i++) ctx.log("first line " + i); ctx.log("token " + ctx.env.TOKEN); }, { env: { TOKEN: secret("token") } }),
  second: run((ctx) => ctx.log("second says hi"), { needs: { first: "success" } }),
} });
`;
const TOKEN = "s3cret-download-value";

let gantry: TestGantry;
let admin: WebClient;
let runId: number;

beforeAll(async () => {
  gantry = await startWithPipelines({ "chatty.ts": PIPELINE });
  expect((await gantry.api("/pipelines/default/chatty/secrets/token", { method: "PUT", body: JSON.stringify({ value: TOKEN }) })).status).toBe(201);
  runId = (await waitForRun(gantry.api, "default/chatty", (await startRun(gantry.api, "default/chatty")).id)).id;
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

/** The archive's files and their text. */
async function filesOf(response: Response): Promise<Record<string, string>> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/gzip");
  expect(response.headers.get("content-disposition")).toBe(`attachment; filename="default-chatty-${runId}-logs.tar.gz"`);
  const tar = gunzipSync(new Uint8Array(await response.arrayBuffer()));
  const files: Record<string, string> = {};
  for await (const entry of readTar([tar])) {
    const parts: Uint8Array[] = [];
    for await (const part of entry.read()) parts.push(part);
    files[entry.path] = Buffer.concat(parts).toString("utf8");
  }
  return files;
}

describe("downloading all logs of a run", () => {
  it("gives every task's log in one tar.gz through the API, secrets masked", async () => {
    const files = await filesOf(await gantry.api(`/pipelines/default/chatty/runs/${runId}/logs`));
    expect(Object.keys(files).sort()).toEqual(["first.log", "second.log"]);
    expect(files["first.log"]).toContain("first line 3");
    expect(files["first.log"]).toContain("token ***");
    expect(Object.values(files).join("")).not.toContain(TOKEN);
    expect(files["second.log"]).toContain("second says hi");
    // The same text as each task's own log.
    expect(files["second.log"]).toBe(await (await gantry.api(`/pipelines/default/chatty/runs/${runId}/tasks/second/logs`)).text());
  });

  it("is linked from the run page and served under its session", async () => {
    const page = await (await admin.get(`/pipelines/default/chatty/runs/${runId}`)).text();
    expect(page).toContain(`<a href="/pipelines/default/chatty/runs/${runId}/logs" download="">Download all logs</a>`);
    const files = await filesOf(await admin.get(`/pipelines/default/chatty/runs/${runId}/logs`));
    expect(Object.keys(files).sort()).toEqual(["first.log", "second.log"]);
  });

  it("refuses a token without logs:read, and says so before anything about the run", async () => {
    expect((await gantry.api("/roles/runs-only", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "runs", target: ".*", actions: ["read"] }] }) })).status).toBeLessThan(300);
    const { secret } = (await (await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "runs-only", roles: ["runs-only"] }) })).json()) as { secret: string };
    for (const run of [runId, 999]) {
      const response = await fetch(`${gantry.url}/api/v1/pipelines/default/chatty/runs/${run}/logs`, { headers: { authorization: `Bearer ${secret}` } });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain("logs:read");
    }
  });
});
