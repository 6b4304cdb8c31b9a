// Git sources as a server lives with them: defined in gantry.toml, synced by the github
// extension's push deliveries (never by pull requests), kept across a restart, and sharing
// pipeline names with the local folder only by refusing a second owner.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { createGitRepo, startGitHttpServer, type GitRepo, type GitServer } from "./helpers/git-server.ts";
import { startTestGantry, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";
import { signBody } from "../app/domain/hmac-signature.ts";

const WEBHOOK_SECRET = "github-webhook-secret-for-sources";
const pipeline = (id: string, message: string) => `import { definePipeline, run } from "gantry";
export default definePipeline({ id: "${id}", tasks: { say: run(async (ctx) => ctx.log("${message}")) } });
`;

let http: GitServer;
let repo: GitRepo;
let gantry: TestGantry;
let dataDir: string;
let pipelinesDir: string;
let env: Record<string, string>;

const json = async <T>(response: Response): Promise<T> => (await response.json()) as T;
const sourceOf = async (name: string) => (await json<{ source: { state: string; definedIn: string; head?: { sha: string }; error?: string; pipelines: { id: string }[] } }>(await gantry.api(`/sources/${name}`))).source;

beforeAll(async () => {
  const root = tempDir("gantry-git-");
  repo = await createGitRepo(root, "acme/ops");
  await repo.commit({ "ci/deploy.ts": pipeline("deploy", "deploying"), "ci/hello.ts": pipeline("hello", "from git") });
  http = await startGitHttpServer(root);
  dataDir = tempDir("gantry-data-");
  pipelinesDir = tempDir("gantry-pipelines-");
  // The local folder defines ops/hello too: the source may not take it over.
  writeFile(join(pipelinesDir, "ops", "hello.ts"), pipeline("hello", "from the folder"));
  env = {
    GANTRY_SOURCES: JSON.stringify({ ops: { repo: `${http.url}/acme/ops.git`, path: "ci", poll_interval: "off" } }),
    GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"),
    GANTRY_EXTENSIONS_CONFIG: JSON.stringify({
      // The App's key is only read to mint tokens, which a push to a source does not need.
      github: { appId: "1", privateKey: "-----BEGIN RSA PRIVATE KEY-----\nunused\n-----END RSA PRIVATE KEY-----", webhookSecret: WEBHOOK_SECRET },
    }),
  };
  gantry = await startTestGantry({ dataDir, pipelinesDir, env });
  await waitFor(async () => ((await sourceOf("ops")).state === "ok" ? true : undefined), 30_000);
});

afterAll(async () => {
  await gantry?.stop();
  await http?.stop();
});

async function deliver(event: string, payload: unknown) {
  const body = JSON.stringify(payload);
  const response = await fetch(`${gantry.hooksUrl}/hooks/github`, {
    method: "POST",
    headers: { "x-github-event": event, "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signBody(WEBHOOK_SECRET, body) },
    body,
  });
  return { status: response.status, body: await json<{ sources?: string[] }>(response) };
}

describe("sources of a server", () => {
  it("come from gantry.toml and cannot be changed over the API", async () => {
    expect(await sourceOf("ops")).toMatchObject({ definedIn: "config", state: "ok" });
    const put = await gantry.api("/sources/ops", { method: "PUT", body: JSON.stringify({ repo: `${http.url}/acme/ops.git` }) });
    expect(put.status).toBe(409);
    expect((await gantry.api("/sources/ops", { method: "DELETE" })).status).toBe(409);
    const { sources } = await json<{ sources: { name: string; kind: string }[] }>(await gantry.api("/sources"));
    expect(sources.map((source) => [source.name, source.kind])).toEqual([
      ["local", "folder"],
      ["ops", "git"],
    ]);
  });

  it("never take over a pipeline the local folder defines, and say so", async () => {
    const hello = await json<{ pipeline: { file: string; source?: string; error?: unknown } }>(await gantry.api("/pipelines/ops/hello"));
    // The folder's pipeline is untouched: no source, no error of the other file.
    expect(hello.pipeline.source).toBeUndefined();
    expect(hello.pipeline.error).toBeUndefined();
    const source = await json<{ source: { pipelines: { id: string }[]; lastSync: { failures: { file: string; issues: { message: string }[] }[] } } }>(await gantry.api("/sources/ops"));
    expect(source.source.pipelines.map((p) => p.id)).toEqual(["deploy"]);
    // The source's last sync says why its file was not loaded.
    expect(source.source.lastSync.failures[0]).toMatchObject({ file: "ci/hello.ts" });
    expect(source.source.lastSync.failures[0]!.issues[0]!.message).toContain("pipeline ops/hello is already defined by the local pipelines folder");
  });

  it("sync on a GitHub push to their branch, not on a pull request or another branch", async () => {
    const repository = { full_name: "acme/ops", clone_url: `${http.url}/acme/ops.git`, html_url: "https://github.example/acme/ops" };
    const head = await repo.commit({ "ci/deploy.ts": pipeline("deploy", "deploying v2") });
    const pr = await deliver("pull_request", { action: "opened", repository, pull_request: { number: 1, head: { sha: head, ref: "x", repo: { full_name: "acme/ops" } }, base: { ref: "main", repo: { full_name: "acme/ops" } } } });
    expect(pr.body.sources).toBeUndefined();
    const other = await deliver("push", { ref: "refs/heads/feature", after: head, repository });
    expect(other.body.sources).toBeUndefined();
    expect((await sourceOf("ops")).head?.sha).not.toBe(head);
    const pushed = await deliver("push", { ref: "refs/heads/main", after: head, repository });
    expect(pushed.status).toBe(200);
    expect(pushed.body.sources).toEqual(["ops"]);
    await waitFor(async () => ((await sourceOf("ops")).head?.sha === head ? true : undefined), 20_000);
    const { versions } = await json<{ versions: { version: number; commit?: { sha: string } }[] }>(await gantry.api("/pipelines/ops/deploy/versions"));
    expect(versions[0]).toMatchObject({ version: 2, commit: { sha: head } });
  });

  it("keep their versions and commits across a restart, and pick up what was pushed meanwhile", async () => {
    const before = await sourceOf("ops");
    await gantry.stop();
    const head = await repo.commit({ "ci/deploy.ts": pipeline("deploy", "deploying v3") });
    gantry = await startTestGantry({ dataDir, pipelinesDir, env });
    await waitFor(async () => ((await sourceOf("ops")).head?.sha === head ? true : undefined), 30_000);
    expect(before.head?.sha).not.toBe(head);
    const { versions } = await json<{ versions: { version: number }[] }>(await gantry.api("/pipelines/ops/deploy/versions"));
    expect(versions.map((version) => version.version)).toEqual([3, 2, 1]);
    // Restarted with nothing pushed: a sync only asks the remote, and what the last one did stays shown.
    await gantry.stop();
    gantry = await startTestGantry({ dataDir, pipelinesDir, env });
    await waitFor(async () => ((await sourceOf("ops")).state === "ok" ? true : undefined), 30_000);
    const again = await json<{ sync: { unchanged: boolean }; source: { lastSync: { versions: unknown[]; failures: unknown[] } } }>(await gantry.api("/sources/ops/sync", { method: "POST" }));
    expect(again.sync.unchanged).toBe(true);
    expect(again.source.lastSync.versions).toEqual([{ pipeline: "ops/deploy", version: 3, commit: head }]);
    // Gone from gantry.toml: the source goes, its pipelines are retired.
    await gantry.stop();
    gantry = await startTestGantry({ dataDir, pipelinesDir, env: { ...env, GANTRY_SOURCES: "{}" } });
    expect((await gantry.api("/sources/ops")).status).toBe(404);
    expect((await gantry.api("/pipelines/ops/deploy")).status).toBe(404);
  });
});
