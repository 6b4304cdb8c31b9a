// The example CI pipeline (pipelines/examples/ci.ts) on a real server, Docker engine and
// registry: checkout of the shipped sample, tests, security lint and secret scan in
// parallel, a build kept as an artifact and taken in by the image build, the image run and
// pushed; its cache misses on the first run and hits on the second.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { readLog, startRun, startTestGantry, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { REPO_ROOT, tempDir } from "./helpers/temp.ts";
import { webLogin } from "./helpers/web.ts";

setDefaultTimeout(180_000);

let server: TestGantry;
let registry: Registry;
const docker = new Docker({ socketPath: "/var/run/docker.sock" });

beforeAll(async () => {
  const pipelinesDir = tempDir("gantry-pipelines-");
  const examples = join(REPO_ROOT, "pipelines", "examples");
  for (const name of ["ci.ts", "_read-folder.ts", "_sample-repo.ts", "sample-app"]) cpSync(join(examples, name), join(pipelinesDir, "examples", name), { recursive: true });
  registry = await startRegistry();
  server = await startTestGantry({ pipelinesDir });
  await waitForPipeline(server.api, "examples/ci");
});

afterAll(async () => {
  await server?.stop();
  await registry?.stop();
  const images = await docker.listImages({ filters: { reference: ["local/sample-app"] } });
  for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
});

const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)! as RunJson["tasks"][number] & { cache?: { hit: string } };

describe("the example CI pipeline", () => {
  it("goes green: checkout, parallel checks, build, image, push; findings, an artifact and a cache", async () => {
    const runs: RunJson[] = [];
    for (let i = 0; i < 2; i++) {
      const started = await startRun(server.api, "examples/ci", { REGISTRY: registry.address });
      runs.push(await waitForRun(server.api, "examples/ci", started.id, 150_000));
    }
    for (const run of runs) {
      expect(run.tasks.filter((candidate) => candidate.state !== "successful").map((candidate) => `${candidate.id}: ${candidate.state} ${candidate.reason ?? ""}`)).toEqual([]);
      expect(run.state).toBe("successful");
    }
    const [first, second] = runs as [RunJson, RunJson];
    expect(task(first, "toolchain").cache?.hit).toBe("miss");
    expect(task(second, "toolchain").cache?.hit).toBe("exact");
    expect(await readLog(server.api, "examples/ci", second.id, "toolchain")).toContain("toolchain from the cache");

    const findings = (await (await server.api(`/pipelines/examples/ci/runs/${first.id}/findings`)).json()) as { findings: { level: string; file: string; ruleId: string }[] };
    expect(findings.findings.some((finding) => finding.level === "warning" && finding.file.endsWith("legacy-settings.js"))).toBe(true);

    const artifacts = (await (await server.api(`/pipelines/examples/ci/runs/${first.id}/artifacts`)).json()) as { artifacts: { name: string; task: string; sha256: string }[] };
    expect(artifacts.artifacts).toMatchObject([{ name: "app", task: "build" }]);
    expect(await readLog(server.api, "examples/ci", first.id, "image")).toContain('artifact "app" of run');

    const tags = (await (await registry.get("/v2/local/sample-app/tags/list")).json()) as { tags: string[] };
    expect(tags.tags).toContain("ci");
    expect(await readLog(server.api, "examples/ci", first.id, "smoke")).toContain("Hello");

    // The pipeline page: each run's cache result and findings in the history, the cache entry listed.
    const web = await webLogin(server.url, server.token);
    const page = await (await web.get("/pipelines/examples/ci")).text();
    expect(page).toContain("1 miss");
    expect(page).toContain("1 hit");
    expect(page).toContain("toolchain-");
  });
});
