// The pipelines folder as users see it through the API: load errors with file, path and
// message; namespaces from subfolders; live pick-up of added, edited and deleted files.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { startTestGantry, waitFor, type TestGantry } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

// Servers and task processes need more than bun test's 5 s default (bunfig has no test timeout).
setDefaultTimeout(30_000);

interface PipelineJson {
  namespace: string;
  id: string;
  version: number | null;
  tasks: { id: string; kind: string; needs: Record<string, string> }[];
  error?: { file: string; issues: { path: string; message: string }[] };
}

const pipelineSource = (id: string, body = `greet: run((ctx) => ctx.log("hi"))`, extra = "") => `
import { definePipeline, run } from "gantry";
${extra}
export default definePipeline({ id: ${JSON.stringify(id)}, tasks: { ${body} } });
`;

async function getPipeline(gantry: TestGantry, ns: string, id: string): Promise<{ status: number; pipeline?: PipelineJson }> {
  const response = await gantry.api(`/pipelines/${ns}/${id}`);
  if (response.status !== 200) return { status: response.status };
  return { status: 200, pipeline: ((await response.json()) as { pipeline: PipelineJson }).pipeline };
}

async function listPipelines(gantry: TestGantry, query = ""): Promise<PipelineJson[]> {
  const response = await gantry.api(`/pipelines${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { pipelines: PipelineJson[] }).pipelines;
}

describe("pipeline loading at start", () => {
  let gantry: TestGantry;
  const dir = tempDir("gantry-pipelines-");
  const files = {
    syntax: writeFile(join(dir, "syntax.ts"), `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "syntax", tasks: { a: run(() => { ) } });\n`),
    schema: writeFile(join(dir, "schema.ts"), pipelineSource("schema", `a: run(() => {}, { timeout: "soon" })`)),
    throws: writeFile(join(dir, "throws.ts"), pipelineSource("throws", undefined, `throw new Error("DATABASE_URL is not set");`)),
    good: writeFile(join(dir, "good.ts"), pipelineSource("good", `build: run(() => {}), test: run(() => {}, { needs: { build: "success" } })`)),
    ops: writeFile(join(dir, "ops", "backup.ts"), pipelineSource("backup")),
    dupFirst: writeFile(join(dir, "a-first.ts"), pipelineSource("dup")),
    dupSecond: writeFile(join(dir, "b-second.ts"), pipelineSource("dup", `other: run(() => {})`)),
    otherNs: writeFile(join(dir, "team", "dup.ts"), pipelineSource("dup")),
    helper: writeFile(join(dir, "_shared.ts"), `export const x = 1;\n`),
  };

  beforeAll(async () => {
    gantry = await startTestGantry({ pipelinesDir: dir });
  });
  afterAll(() => gantry.stop());

  it("loads a valid file with its tasks and needs", async () => {
    const { status, pipeline } = await getPipeline(gantry, "default", "good");
    expect(status).toBe(200);
    expect(pipeline!.version).toBe(1);
    expect(pipeline!.error).toBeUndefined();
    expect(pipeline!.tasks).toEqual([
      expect.objectContaining({ id: "build", kind: "run", needs: {} }),
      expect.objectContaining({ id: "test", kind: "run", needs: { build: "success" } }),
    ]);
  });

  it("shows a syntax error with file, line and message", async () => {
    const { status, pipeline } = await getPipeline(gantry, "default", "syntax");
    expect(status).toBe(200);
    expect(pipeline!.version).toBeNull();
    expect(pipeline!.error!.file).toBe(files.syntax);
    expect(pipeline!.error!.issues).toHaveLength(1);
    expect(pipeline!.error!.issues[0]!.path).toBe("");
    expect(pipeline!.error!.issues[0]!.message).toMatch(/line 2:\d+: Unexpected/);
  });

  it("shows a schema error with file, path in the object and message", async () => {
    const { pipeline } = await getPipeline(gantry, "default", "schema");
    expect(pipeline!.version).toBeNull();
    expect(pipeline!.error).toEqual({
      file: files.schema,
      issues: [{ path: "tasks.a.timeout", message: expect.stringContaining("30s") }],
    });
  });

  it("shows a file that throws at import with the thrown message", async () => {
    const { pipeline } = await getPipeline(gantry, "default", "throws");
    expect(pipeline!.error!.file).toBe(files.throws);
    expect(pipeline!.error!.issues[0]!.message).toContain("DATABASE_URL is not set");
  });

  it("lists broken pipelines with their errors beside the good ones", async () => {
    const pipelines = await listPipelines(gantry);
    const byKey = new Map(pipelines.map((p) => [`${p.namespace}/${p.id}`, p]));
    expect(byKey.get("default/syntax")!.error!.file).toBe(files.syntax);
    expect(byKey.get("default/schema")!.error!.issues[0]!.path).toBe("tasks.a.timeout");
    expect(byKey.get("default/throws")!.error!.issues[0]!.message).toContain("DATABASE_URL is not set");
    expect(byKey.get("default/good")!.error).toBeUndefined();
    // Helper files (underscore) are not pipelines.
    expect([...byKey.keys()].some((key) => key.includes("shared"))).toBe(false);
  });

  it("takes the namespace from the subfolder", async () => {
    expect((await getPipeline(gantry, "ops", "backup")).pipeline!.version).toBe(1);
    expect((await getPipeline(gantry, "default", "backup")).status).toBe(404);
    const ops = await listPipelines(gantry, "?namespace=ops");
    expect(ops.map((p) => `${p.namespace}/${p.id}`)).toEqual(["ops/backup"]);
  });

  it("refuses a second file defining an id already used in its namespace", async () => {
    const winner = await getPipeline(gantry, "default", "dup");
    expect(winner.pipeline!.version).toBe(1);
    expect(winner.pipeline!.error).toBeUndefined();
    // The first file keeps the id; its task list is the first file's.
    expect(winner.pipeline!.tasks.map((task) => task.id)).toEqual(["greet"]);
    const loser = (await listPipelines(gantry)).find((p) => p.error?.file === files.dupSecond);
    expect(loser).toBeDefined();
    expect(loser!.error!.issues[0]!.path).toBe("id");
    expect(loser!.error!.issues[0]!.message).toContain("already defined by a-first.ts");
  });

  it("allows the same id in another namespace", async () => {
    const team = await getPipeline(gantry, "team", "dup");
    expect(team.pipeline!.version).toBe(1);
    expect(team.pipeline!.error).toBeUndefined();
  });
});

describe("live pipeline folder", () => {
  let gantry: TestGantry;

  beforeAll(async () => {
    gantry = await startTestGantry();
  });
  afterAll(() => gantry.stop());

  const versions = async (ns: string, id: string) => {
    const response = await gantry.api(`/pipelines/${ns}/${id}/versions`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { versions: { version: number; hash: string; tasks: { id: string }[] }[] }).versions;
  };

  it("picks up an added file, edits as versions, keeps the last good version on a bad edit, and drops a deleted file", async () => {
    const file = join(gantry.pipelinesDir, "live.ts");
    expect((await getPipeline(gantry, "default", "live")).status).toBe(404);

    // Added: shows up without a restart.
    writeFile(file, pipelineSource("live", `first: run(() => {})`));
    const added = await waitFor(async () => (await getPipeline(gantry, "default", "live")).pipeline, 10_000, "the new file to load");
    expect(added.version).toBe(1);
    expect(added.tasks.map((task) => task.id)).toEqual(["first"]);

    // Edited: version 2 becomes current; version 1 is kept.
    writeFile(file, pipelineSource("live", `first: run(() => {}), second: run(() => {}, { needs: { first: "any" } })`));
    const edited = await waitFor(
      async () => {
        const { pipeline } = await getPipeline(gantry, "default", "live");
        return pipeline?.version === 2 ? pipeline : undefined;
      },
      10_000,
      "version 2",
    );
    expect(edited.tasks.map((task) => task.id)).toEqual(["first", "second"]);
    const afterEdit = await versions("default", "live");
    expect(afterEdit.map((version) => version.version)).toEqual([2, 1]);
    expect(afterEdit[0]!.tasks.map((task) => task.id)).toEqual(["first", "second"]);
    expect(afterEdit[0]!.hash).not.toBe(afterEdit[1]!.hash);

    // An invalid edit: the error shows, version 2 stays current and runnable.
    writeFile(file, pipelineSource("live", `first: run(() => {}, { needs: { ghost: "success" } })`));
    const broken = await waitFor(async () => (await getPipeline(gantry, "default", "live")).pipeline?.error, 10_000, "the load error");
    expect(broken.file).toBe(file);
    expect(broken.issues).toEqual([{ path: "tasks.first.needs.ghost", message: 'unknown task "ghost"' }]);
    const stillV2 = (await getPipeline(gantry, "default", "live")).pipeline!;
    expect(stillV2.version).toBe(2);
    expect(stillV2.tasks.map((task) => task.id)).toEqual(["first", "second"]);
    expect((await versions("default", "live")).map((version) => version.version)).toEqual([2, 1]);
    const started = await gantry.api("/pipelines/default/live/runs", { method: "POST", body: "{}" });
    expect(started.status).toBe(201);
    expect(((await started.json()) as { run: { version: number } }).run.version).toBe(2);

    // Fixed: the error clears and the fix is the new version.
    writeFile(file, pipelineSource("live", `fixed: run(() => {})`));
    const fixed = await waitFor(
      async () => {
        const { pipeline } = await getPipeline(gantry, "default", "live");
        return pipeline && !pipeline.error ? pipeline : undefined;
      },
      10_000,
      "the error to clear",
    );
    expect(fixed.version).toBe(3);
    expect(fixed.tasks.map((task) => task.id)).toEqual(["fixed"]);

    // Deleted: gone from the list and from GET.
    await gantry.deps.orchestrator.idle();
    rmSync(file);
    await waitFor(async () => ((await getPipeline(gantry, "default", "live")).status === 404 ? true : undefined), 10_000, "the pipeline to go");
    expect((await listPipelines(gantry)).some((p) => p.id === "live")).toBe(false);
    expect((await gantry.api("/pipelines/default/live/versions")).status).toBe(404);
  });

  it("sees an edit that keeps the file's size and mtime, after a rescan that found it unchanged", async () => {
    const file = join(gantry.pipelinesDir, "same-size.ts");
    const oldTime = new Date(Date.now() - 60_000);
    const tasksNow = async () => (await getPipeline(gantry, "default", "same-size")).pipeline?.tasks.map((task) => task.id);
    writeFile(file, pipelineSource("same-size", `aa: run(() => {})`));
    utimesSync(file, oldTime, oldTime);
    await gantry.deps.loader.scan();
    expect(await tasksNow()).toEqual(["aa"]);
    // Long enough after the write for a rescan to trust the file's stat.
    await Bun.sleep(2_100);
    await gantry.deps.loader.scan();

    // As a tool that restores mtimes would leave it: same size, same mtime, same inode.
    writeFile(file, pipelineSource("same-size", `bb: run(() => {})`));
    utimesSync(file, oldTime, oldTime);
    await gantry.deps.loader.scan();
    expect(await tasksNow()).toEqual(["bb"]);
  });

  it("picks up a new namespace folder", async () => {
    writeFile(join(gantry.pipelinesDir, "infra", "rotate.ts"), pipelineSource("rotate"));
    const loaded = await waitFor(async () => (await getPipeline(gantry, "infra", "rotate")).pipeline, 10_000, "infra/rotate");
    expect(loaded.namespace).toBe("infra");
    expect(loaded.version).toBe(1);
  });

  it("shows an error for a broken file added while running", async () => {
    const file = writeFile(join(gantry.pipelinesDir, "late.ts"), pipelineSource("late", `a: { kind: "run", fn: 42 }`));
    const error = await waitFor(async () => (await getPipeline(gantry, "default", "late")).pipeline?.error, 10_000, "the load error");
    expect(error).toEqual({ file, issues: [{ path: "tasks.a.fn", message: "must be a function" }] });
  });

  it("reloads a pipeline when a helper it imports changes, also after a broken helper is fixed", async () => {
    const helper = writeFile(join(gantry.pipelinesDir, "_steps.ts"), `export const steps = ["build"];\n`);
    writeFile(
      join(gantry.pipelinesDir, "composed.ts"),
      `import { definePipeline, run } from "gantry";
import { steps } from "./_steps.ts";
export default definePipeline({ id: "composed", tasks: Object.fromEntries(steps.map((step) => [step, run((ctx) => ctx.log(step))])) });
`,
    );
    const taskIds = async () => (await getPipeline(gantry, "default", "composed")).pipeline?.tasks.map((task) => task.id).join(",");
    await waitFor(async () => ((await taskIds()) === "build" ? true : undefined), 10_000, "composed v1");

    // Only the helper changes: the pipeline file is re-bundled into a new version.
    writeFile(helper, `export const steps = ["build", "test"];\n`);
    await waitFor(async () => ((await taskIds()) === "build,test" ? true : undefined), 10_000, "composed with the helper's new steps");
    expect((await versions("default", "composed")).length).toBe(2);

    // A broken helper breaks the pipeline (the last good version stays); fixing it reloads.
    writeFile(helper, `export const steps = [;\n`);
    const error = await waitFor(async () => (await getPipeline(gantry, "default", "composed")).pipeline?.error, 10_000, "the helper's syntax error");
    expect(error.issues[0]!.message).toBeTruthy();
    expect(await taskIds()).toBe("build,test");
    writeFile(helper, `export const steps = ["build", "test", "ship"];\n`);
    await waitFor(async () => {
      const { pipeline } = await getPipeline(gantry, "default", "composed");
      return !pipeline?.error && pipeline?.tasks.length === 3 ? true : undefined;
    }, 10_000, "composed after the helper is fixed");
  });
});

describe("old bundles", () => {
  it("are pruned an hour on, except the newest versions', the current one's and those of unfinished runs (fake clock)", async () => {
    let offsetMs = 0;
    const gantry = await startTestGantry({ now: () => new Date(Date.now() + offsetMs) });
    try {
      const file = join(gantry.pipelinesDir, "churn.ts");
      const bundles = () => readdirSync(join(gantry.dataDir, "bundles")).filter((name) => name.endsWith(".js"));
      const versionList = async () => {
        const response = await gantry.api("/pipelines/default/churn/versions");
        return response.status === 200 ? ((await response.json()) as { versions: { version: number; hash: string }[] }).versions : [];
      };
      const edit = async (n: number, body: string) => {
        writeFile(file, pipelineSource("churn", body, `// edit ${n}`));
        await waitFor(async () => ((await versionList()).length === n ? true : undefined), 10_000, `version ${n}`);
      };
      // Version 1 runs a long task; its run is still going while seven more versions land.
      await edit(1, `slow: run(async () => { await Bun.sleep(60_000); })`);
      const started = (await (await gantry.api("/pipelines/default/churn/runs", { method: "POST", body: "{}" })).json()) as { run: { id: number } };
      for (let n = 2; n <= 8; n++) await edit(n, `step${n}: run(() => {})`);
      expect(bundles().length).toBe(8);
      expect((await gantry.deps.janitor.prune()).bundles).toBe(0); // all written within the hour

      offsetMs = 2 * 3_600_000;
      expect((await gantry.deps.janitor.prune()).bundles).toBe(2); // versions 2 and 3
      const hashes = new Map((await versionList()).map((version) => [version.version, version.hash]));
      const kept = new Set(bundles());
      for (const version of [1, 4, 5, 6, 7, 8]) expect(kept.has(`${hashes.get(version)}.js`)).toBe(true);

      // Once its run ends, version 1's bundle goes too.
      await gantry.api(`/pipelines/default/churn/runs/${started.run.id}/cancel`, { method: "POST" });
      await gantry.deps.orchestrator.idle();
      expect((await gantry.deps.janitor.prune()).bundles).toBe(1);
      expect(existsSync(join(gantry.dataDir, "bundles", `${hashes.get(1)}.js`))).toBe(false);

      // The file returning to version 2's content brings its bundle back, and it runs.
      writeFile(file, pipelineSource("churn", `step2: run(() => {})`, `// edit 2`));
      await waitFor(async () => ((await getPipeline(gantry, "default", "churn")).pipeline?.version === 2 ? true : undefined), 10_000, "version 2 again");
      expect(existsSync(join(gantry.dataDir, "bundles", `${hashes.get(2)}.js`))).toBe(true);
      const again = (await (await gantry.api("/pipelines/default/churn/runs", { method: "POST", body: "{}" })).json()) as { run: { id: number } };
      const finished = await waitFor(async () => {
        const { run } = (await (await gantry.api(`/pipelines/default/churn/runs/${again.run.id}`)).json()) as { run: { state: string } };
        return run.state === "running" ? undefined : run.state;
      }, 10_000, "the run of version 2");
      expect(finished).toBe("successful");
    } finally {
      await gantry.stop();
    }
  });
});
