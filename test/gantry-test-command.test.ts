// `gantry test` and `gantry dev --watch`, from source as a person runs them: a pipelines
// folder outside the repository (no node_modules near it) whose tests import "gantry",
// "gantry/testing" and "valibot"; passing, failing and filtered runs; no test files; and a
// pipeline run again on each save of its file.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { cliInBackground, runCli } from "./helpers/cli.ts";
import { waitFor } from "./helpers/gantry.ts";
import { tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(30_000);

const PIPELINE = `import * as v from "valibot";
import { definePipeline, run } from "gantry";
export default definePipeline({
  id: "ship",
  inputs: { target: v.picklist(["staging", "production"]) },
  tasks: {
    build: run((ctx) => ctx.log("built for " + ctx.inputs.target)),
    ship: run((ctx) => ctx.log("shipped"), { needs: { build: "success" } }),
  },
});
`;

const TESTS = `import { expect, it } from "bun:test";
import { testRun } from "gantry/testing";
import ship from "./ship.ts";
it("ships to staging", async () => {
  const run = await testRun(ship, { inputs: { target: "staging" } });
  expect(run).toHaveSucceeded();
  expect(run.task("build").log).toBe("built for staging");
});
it("does not ship a broken build", async () => {
  const run = await testRun(ship, { inputs: { target: "production" }, mocks: { build: { exitCode: 1 } } });
  expect(run.task("ship")).toBeSkipped();
});
`;

const FAILING = `import { expect, it } from "bun:test";
import { testRun } from "gantry/testing";
import ship from "../ship.ts";
it("expects the wrong thing", async () => {
  const run = await testRun(ship, { inputs: { target: "staging" }, mocks: { build: { exitCode: 2 } } });
  expect(run).toHaveSucceeded();
});
`;

function pipelinesFolder(): string {
  const dir = tempDir("gantry-tests-");
  writeFile(join(dir, "ship.ts"), PIPELINE);
  writeFile(join(dir, "ship.test.ts"), TESTS);
  return dir;
}

describe("gantry test", () => {
  it("runs the tests beside pipeline files, with the kit and valibot that are Gantry's own", async () => {
    const dir = pipelinesFolder();
    const result = await runCli(["test", dir]);
    const output = result.stdout + result.stderr;
    expect({ exitCode: result.exitCode, output }).toMatchObject({ exitCode: 0 });
    expect(output).toContain("(pass) ships to staging");
    expect(output).toContain("(pass) does not ship a broken build");
    expect(output).toMatch(/^ 2 pass$/m);
  });

  it("fails with the run drawn when a test fails, and passes bun test's options on after --", async () => {
    const dir = pipelinesFolder();
    writeFile(join(dir, "more", "ship-wrong.test.ts"), FAILING);
    const failed = await runCli(["test", dir]);
    const output = failed.stdout + failed.stderr;
    expect(failed.exitCode).toBe(1);
    expect(output).toContain("expected the run to have succeeded, but it failed:");
    expect(output).toContain("✗ build  failed   exited with code 2");
    expect(output).toMatch(/^ 2 pass$/m);
    expect(output).toMatch(/^ 1 fail$/m);
    const filtered = await runCli(["test", dir, "--", "-t", "ships to staging"]);
    expect(filtered.exitCode).toBe(0);
    expect(filtered.stdout + filtered.stderr).toMatch(/^ 1 pass$/m);
  });

  it("says so when a folder has no tests, or a path does not exist", async () => {
    const empty = tempDir("gantry-no-tests-");
    writeFile(join(empty, "ship.ts"), PIPELINE);
    const none = await runCli(["test", empty]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain(`no test files (*.test.ts) under ${empty}`);
    const missing = await runCli(["test", join(empty, "nope")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("nope does not exist");
    const option = await runCli(["test", "--bail"]);
    expect(option.exitCode).toBe(2);
    expect(option.stderr).toContain("unknown option --bail (options for bun test go after --)");
  });
});

describe("gantry dev --watch", () => {
  it("runs the pipeline again on each save, and keeps watching after a file that does not load", async () => {
    const dir = tempDir("gantry-watch-");
    const file = writeFile(join(dir, "watched.ts"), `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "watched", tasks: { say: run((ctx) => ctx.log("version one")) } });\n`);
    const dev = cliInBackground(["dev", "--watch", file]);
    await waitFor(async () => (dev.stdout().includes("watching") ? true : undefined), 20_000, "the first run");
    expect(dev.stdout()).toContain("version one");
    await Bun.write(file, `import { definePipeline } from "gantry";\nexport default definePipeline({ id: "watched", tasks: { say: ( } });\n`);
    await waitFor(async () => (dev.stdout().split("changed: running it again").length === 2 && dev.stdout().split("watching").length === 3 ? true : undefined), 20_000, "a run of the broken file");
    await Bun.write(file, `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "watched", tasks: { say: run((ctx) => ctx.log("version two")) } });\n`);
    await waitFor(async () => (dev.stdout().includes("version two") && dev.stdout().split("watching").length === 4 ? true : undefined), 20_000, "the run after the fix");
    dev.kill("SIGINT");
    const ended = await dev.done;
    expect(ended.exitCode).toBe(0);
    expect(ended.stderr).toContain("watched.ts");
  });
});
