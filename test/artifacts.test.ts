// Artifacts end to end on a real server: a folder and a file stored after a task succeeds,
// listed with size and sha256, downloaded and verified (API, CLI, web), taken in by a later
// task of the run and by runs after it (latest successful, by number); a missing artifact, a
// path that is missing or leads out of the workspace fail the task naming it and store nothing;
// a corrupted blob is refused on download and fails the task that would take it in.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTar } from "../app/stores/tar.ts";
import { outputLines, readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { runCli } from "./helpers/cli.ts";
import { webLogin } from "./helpers/web.ts";
import { tempDir } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const HEADER = `import { definePipeline, run } from "gantry";\nimport { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";\n`;

const PIPELINES: Record<string, string> = {
  // Stores a folder (with a link inside it) and a file; a later task finds them put back after
  // the workspace lost them.
  "relay.ts": `${HEADER}export default definePipeline({ id: "relay", variables: { STAMP: "one" }, tasks: {
    make: run((ctx) => {
      const ws = ctx.workspace;
      mkdirSync(ws + "/build/dist/sub", { recursive: true });
      writeFileSync(ws + "/build/dist/app.js", "app " + ctx.env.STAMP);
      writeFileSync(ws + "/build/dist/sub/x.txt", "x");
      symlinkSync("sub/x.txt", ws + "/build/dist/x-link");
      writeFileSync(ws + "/report.txt", "report " + ctx.env.STAMP);
    }, { artifacts: { out: { dist: "build/dist", report: "report.txt" } } }),
    wipe: run((ctx) => {
      rmSync(ctx.workspace + "/build", { recursive: true, force: true });
      rmSync(ctx.workspace + "/report.txt", { force: true });
    }, { needs: { make: "success" } }),
    use: run((ctx) => {
      ctx.log("app", readFileSync(ctx.workspace + "/build/dist/app.js", "utf8"));
      ctx.log("link", readFileSync(ctx.workspace + "/build/dist/x-link", "utf8"));
      ctx.log("report", readFileSync(ctx.workspace + "/report.txt", "utf8"));
    }, { needs: { wipe: "success" }, artifacts: { in: { dist: "make", report: "make" } } }),
  } });\n`,
  // Takes in artifacts of earlier runs: "take" and "first" run only when "make" fails (FAIL=1),
  // so the runs that make one stay successful.
  "history.ts": `${HEADER}export default definePipeline({ id: "history", variables: { STAMP: "one", FAIL: "" }, tasks: {
    make: run((ctx) => {
      if (ctx.env.FAIL) throw new Error("asked to fail");
      mkdirSync(ctx.workspace + "/build/dist", { recursive: true });
      writeFileSync(ctx.workspace + "/build/dist/app.js", "app " + ctx.env.STAMP);
    }, { artifacts: { out: { dist: "build/dist" } } }),
    latest: run((ctx) => ctx.log("latest", readFileSync(ctx.workspace + "/build/dist/app.js", "utf8")), {
      needs: { make: "failure" }, artifacts: { in: { dist: { run: "latest-successful" } } },
    }),
    first: run((ctx) => ctx.log("first", readFileSync(ctx.workspace + "/build/dist/app.js", "utf8")), {
      needs: { make: "failure", latest: "any" }, artifacts: { in: { old: { run: 1, name: "dist" } } },
    }),
    ghost: run((ctx) => ctx.log("never"), { needs: { make: "failure" }, artifacts: { in: { dist: { run: 99 } } } }),
  } });\n`,
  // Paths that must not be stored: missing, a link out of the workspace, a link out inside a
  // folder, and a task with one good and one missing path (neither is stored).
  "escape.ts": `${HEADER}export default definePipeline({ id: "escape", tasks: {
    missing: run(() => {}, { artifacts: { out: { gone: "build/none" } } }),
    linked: run((ctx) => symlinkSync("/etc", ctx.workspace + "/etc-link"), { artifacts: { out: { leak: "etc-link" } } }),
    parent: run((ctx) => symlinkSync("/etc", ctx.workspace + "/up"), { needs: { linked: "any" }, artifacts: { out: { passwd: "up/passwd" } } }),
    nested: run((ctx) => {
      mkdirSync(ctx.workspace + "/pkg", { recursive: true });
      writeFileSync(ctx.workspace + "/pkg/ok.txt", "ok");
      symlinkSync("/etc/passwd", ctx.workspace + "/pkg/passwd");
    }, { artifacts: { out: { pkg: "pkg" } } }),
    half: run((ctx) => writeFileSync(ctx.workspace + "/good.txt", "good"), { artifacts: { out: { good: "good.txt", bad: "nothing-here" } } }),
  } });\n`,
};

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);

interface ArtifactJson {
  name: string;
  task: string;
  path: string;
  kind: string;
  size: number;
  sha256: string;
  createdAt: string;
}

const listArtifacts = async (pipeline: string, run: number): Promise<ArtifactJson[]> => {
  const response = await api(`/pipelines/${pipeline}/runs/${run}/artifacts`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { artifacts: ArtifactJson[] }).artifacts;
};

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;
const finished = async (pipeline: string, variables?: Record<string, string>) => waitForRun(api, pipeline, (await startRun(api, pipeline, variables)).id, 30_000);
/** The blob files of a run's artifacts in the data dir. */
const blobsOf = (pipeline: string, run: number) => {
  const dir = join(gantry.dataDir, "artifacts", "runs", "default", pipeline, String(run));
  try {
    return readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
};

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
});
afterAll(() => gantry?.stop());

describe("artifacts of a run", () => {
  let relay: RunJson;
  beforeAll(async () => {
    relay = await finished("default/relay");
  });

  it("stores a folder and a file, listed with size and sha256, and a later task takes them in", async () => {
    expect(relay.state).toBe("successful");
    const artifacts = await listArtifacts("default/relay", relay.id);
    expect(artifacts.map(({ name, task, path, kind }) => ({ name, task, path, kind }))).toEqual([
      { name: "dist", task: "make", path: "build/dist", kind: "folder" },
      { name: "report", task: "make", path: "report.txt", kind: "file" },
    ]);
    for (const artifact of artifacts) {
      expect(artifact.size).toBeGreaterThan(0);
      expect(artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const log = await readLog(api, "default/relay", relay.id, "use");
    expect(outputLines(log)).toEqual(["app app one", "link x", "report report one"]);
    expect(log).toContain('artifact "dist" of run 1 (task make) taken in: build/dist (folder');
    expect(await readLog(api, "default/relay", relay.id, "make")).toMatch(/artifact "dist" stored: build\/dist \(folder, [\d.]+ \w+, sha256 [0-9a-f]{12}\)/);
  });

  it("downloads an artifact as a tar, checked against its sha256", async () => {
    const [dist] = await listArtifacts("default/relay", relay.id);
    const response = await api(`/pipelines/default/relay/runs/${relay.id}/artifacts/dist`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-tar");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="dist.tar"');
    expect(response.headers.get("x-checksum-sha256")).toBe(dist!.sha256);
    expect(response.headers.get("digest")).toBe(`sha-256=${Buffer.from(dist!.sha256, "hex").toString("base64")}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes.length).toBe(dist!.size);
    expect(sha256(bytes)).toBe(dist!.sha256);
    const entries: { path: string; type: string; linkTarget?: string }[] = [];
    for await (const entry of readTar([bytes], { symlinks: true })) entries.push({ path: entry.path, type: entry.type, ...(entry.linkTarget && { linkTarget: entry.linkTarget }) });
    expect(entries).toEqual([
      { path: "build", type: "directory" },
      { path: "build/dist", type: "directory" },
      { path: "build/dist/app.js", type: "file" },
      { path: "build/dist/sub", type: "directory" },
      { path: "build/dist/sub/x.txt", type: "file" },
      { path: "build/dist/x-link", type: "symlink", linkTarget: "sub/x.txt" },
    ]);
    const missing = await api(`/pipelines/default/relay/runs/${relay.id}/artifacts/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe(`artifact "nothing" of run ${relay.id} does not exist`);
    expect((await api(`/pipelines/default/relay/runs/${relay.id}/artifacts/..%2Fetc`)).status).toBe(400);
  });

  it("lists and fetches artifacts with the CLI, unpacking one where asked", async () => {
    const server = { url: gantry.url, token: gantry.token };
    const listed = await runCli(["artifact", "ls", "default/relay", String(relay.id)], { server });
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toMatch(/NAME\s+TASK\s+KIND\s+PATH\s+SIZE\s+SHA256/);
    expect(listed.stdout).toMatch(/dist\s+make\s+folder\s+build\/dist/);
    const json = await runCli(["artifact", "ls", "default/relay", String(relay.id), "--json"], { server });
    expect((JSON.parse(json.stdout) as { artifacts: ArtifactJson[] }).artifacts.map((artifact) => artifact.name)).toEqual(["dist", "report"]);
    const out = join(tempDir("gantry-cli-"), "dist.tar");
    const got = await runCli(["artifact", "get", "default/relay", String(relay.id), "dist", "-o", out], { server });
    expect(got.exitCode).toBe(0);
    const [dist] = await listArtifacts("default/relay", relay.id);
    expect(sha256(readFileSync(out))).toBe(dist!.sha256);
    const folder = tempDir("gantry-cli-");
    const extracted = await runCli(["artifact", "get", "default/relay", String(relay.id), "dist", "--extract", folder], { server });
    expect(extracted.exitCode).toBe(0);
    expect(readFileSync(join(folder, "build/dist/app.js"), "utf8")).toBe("app one");
    expect(readFileSync(join(folder, "build/dist/x-link"), "utf8")).toBe("x");
    const unknown = await runCli(["artifact", "get", "default/relay", String(relay.id), "nope", "-o", out], { server });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('artifact "nope" of run');
  });
});

describe("the run page", () => {
  it("lists the artifacts with size, short sha256 and a download link that serves the verified tar", async () => {
    const web = await webLogin(gantry.url, gantry.token);
    const [dist] = await listArtifacts("default/relay", 1);
    const page = await (await web.get("/pipelines/default/relay/runs/1")).text();
    expect(page).toContain("Artifacts and caches");
    expect(page).toContain('href="/pipelines/default/relay/runs/1/artifacts/dist"');
    expect(page).toContain(`title="${dist!.sha256}">${dist!.sha256.slice(0, 12)}</code>`);
    const download = await web.get("/pipelines/default/relay/runs/1/artifacts/dist");
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toBe('attachment; filename="dist.tar"');
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(dist!.sha256);
    // Without a session: to the login page, never the bytes.
    const anonymous = await fetch(`${gantry.url}/pipelines/default/relay/runs/1/artifacts/dist`, { redirect: "manual", headers: { accept: "text/html" } });
    expect(anonymous.status).toBeOneOf([302, 303, 401]);
    expect(anonymous.headers.get("content-type") ?? "").not.toContain("x-tar");
  });
});

describe("artifacts of earlier runs", () => {
  it("takes in the latest successful run's and one by number; a missing one fails the task naming it", async () => {
    expect((await finished("default/history", { STAMP: "one" })).state).toBe("successful");
    expect((await finished("default/history", { STAMP: "two" })).state).toBe("successful");
    const third = await finished("default/history", { FAIL: "1" });
    expect(task(third, "make").state).toBe("failed");
    expect(outputLines(await readLog(api, "default/history", third.id, "latest"))).toEqual(["latest app two"]);
    expect(outputLines(await readLog(api, "default/history", third.id, "first"))).toEqual(["first app one"]);
    const ghost = task(third, "ghost");
    expect(ghost.state).toBe("failed");
    expect(ghost.reason).toBe('artifact "dist" of run 99 does not exist');
    expect(await readLog(api, "default/history", third.id, "ghost")).not.toContain("never");
  });

  it("refuses a corrupted artifact: the download is an error and the task taking it in fails", async () => {
    const [blob] = blobsOf("history", 1);
    expect(blob).toBeDefined();
    const bytes = readFileSync(blob!);
    bytes[700] = bytes[700]! ^ 0x01;
    writeFileSync(blob!, bytes);
    const download = await api("/pipelines/default/history/runs/1/artifacts/dist");
    expect(download.status).toBe(409);
    const body = (await download.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("conflict");
    expect(body.error.message).toStartWith('artifact "dist" of run 1 is corrupted: its sha256 is ');
    const run = await finished("default/history", { FAIL: "1" });
    const first = task(run, "first");
    expect(first.state).toBe("failed");
    expect(first.reason).toStartWith('artifact "dist" of run 1 is corrupted: its sha256 is ');
    expect(first.reason).toEndWith("; it was not used");
    expect(await readLog(api, "default/history", run.id, "first")).not.toContain("first app");
  });
});

describe("paths that cannot be stored", () => {
  it("fails the task with a reason naming the artifact and the path, and stores nothing", async () => {
    const run = await finished("default/escape");
    expect(run.state).toBe("failed");
    expect(task(run, "missing").reason).toBe('artifact "gone": build/none does not exist in the workspace');
    expect(task(run, "linked").reason).toBe('artifact "leak": etc-link is a symlink leading outside the workspace (to /etc)');
    expect(task(run, "parent").reason).toBe('artifact "passwd": up is a symlink leading outside the workspace (to /etc)');
    expect(task(run, "nested").reason).toBe('artifact "pkg": pkg/passwd is a symlink leading outside the workspace (to /etc/passwd)');
    expect(task(run, "half").reason).toBe('artifact "bad": nothing-here does not exist in the workspace');
    expect(await listArtifacts("default/escape", run.id)).toEqual([]);
    expect(blobsOf("escape", run.id)).toEqual([]);
    // Nothing was left in the store's temp folder either.
    expect(readdirSync(join(gantry.dataDir, "artifacts", ".tmp"))).toEqual([]);
  });
});

describe("permissions", () => {
  it("answers 403 without runs:read before anything else", async () => {
    const role = await api("/roles/no-runs", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }) });
    expect(role.status).toBeOneOf([200, 201]);
    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "no-runs", roles: ["no-runs"] }) });
    const { secret } = (await created.json()) as { secret: string };
    for (const path of ["/pipelines/default/relay/runs/1/artifacts", "/pipelines/default/relay/runs/1/artifacts/dist", "/pipelines/default/relay/runs/999/artifacts/x"]) {
      const response = await fetch(`${gantry.url}/api/v1${path}`, { headers: { authorization: `Bearer ${secret}` } });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain("runs:read on default/relay");
    }
  });
});
