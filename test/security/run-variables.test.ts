// Issue 11: run variables had no limits. Wherever they enter — the API's start body, the
// web start form, `gantry run start -v`, a webhook trigger's mapping — at most 100 of them,
// names of at most 128 characters, values of at most 64 KiB and 256 KiB in all; a request
// over a limit is refused with a message naming it, and nothing is stored.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startTestGantry, waitFor, type TestGantry } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";
import { webLogin } from "../helpers/web.ts";

setDefaultTimeout(60_000);

const PIPELINE = `
import { definePipeline, run } from "gantry";
export default definePipeline({ id: "vars", tasks: { a: run(() => {}) } });
`;
/** A webhook trigger mapping `count` variables whose names are `length` characters long. */
const hooked = (id: string, count: number, length: number) => {
  const names = Array.from({ length: count }, (_, index) => `V${String(index).padStart(length - 1, "0")}`);
  const variables = Object.fromEntries(names.map((name) => [name, "ref"]));
  return `
import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({ id: "${id}", triggers: [webhook({ secret: secret("s"), variables: ${JSON.stringify(variables)} })], tasks: { a: run(() => {}) } });
`;
};

const KiB = 1024;
let gantry: TestGantry;

beforeAll(async () => {
  const pipelinesDir = tempDir("gantry-pipelines-");
  writeFile(join(pipelinesDir, "vars.ts"), PIPELINE);
  writeFile(join(pipelinesDir, "hook-ok.ts"), hooked("hook-ok", 100, 128));
  writeFile(join(pipelinesDir, "hook-many.ts"), hooked("hook-many", 101, 8));
  writeFile(join(pipelinesDir, "hook-long.ts"), hooked("hook-long", 1, 129));
  writeFile(
    join(pipelinesDir, "hook-path.ts"),
    `import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({ id: "hook-path", triggers: [webhook({ secret: secret("s"), variables: { PATH: "ref" } })], tasks: { a: run(() => {}) } });
`,
  );
  gantry = await startTestGantry({ pipelinesDir, env: { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions") } });
});

afterAll(async () => {
  await gantry?.stop();
});

const start = (variables: Record<string, string>) => gantry.api("/pipelines/default/vars/runs", { method: "POST", body: JSON.stringify({ variables }) });

async function runCount(): Promise<number> {
  return ((await (await gantry.api("/pipelines/default/vars/runs?limit=500")).json()) as { runs: unknown[] }).runs.length;
}

async function expectRefused(variables: Record<string, string>, ...phrases: string[]): Promise<void> {
  const before = await runCount();
  const response = await start(variables);
  expect(response.status).toBe(400);
  const { error } = (await response.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe("invalid");
  for (const phrase of phrases) expect(error.message).toContain(phrase);
  expect(await runCount()).toBe(before);
}

const many = (count: number, value = "v") => Object.fromEntries(Array.from({ length: count }, (_, index) => [`V${index}`, value]));

describe("run variables through the API", () => {
  it("refuses more than 100 variables, and takes 100", async () => {
    await expectRefused(many(101), "101 run variables", "limit of 100");
    expect((await start(many(100))).status).toBe(201);
  });

  it("refuses a name longer than 128 characters, and takes 128", async () => {
    await expectRefused({ ["N".repeat(129)]: "v" }, "129 characters", "limit of 128");
    expect((await start({ ["N".repeat(128)]: "v" })).status).toBe(201);
  });

  it("refuses a value over 64 KiB, counted in bytes, and takes 64 KiB", async () => {
    await expectRefused({ BIG: "x".repeat(64 * KiB + 1) }, '"BIG"', "limit of 64 KiB");
    // Multi-byte characters count as the bytes they take in the environment.
    await expectRefused({ BIG: "é".repeat(32 * KiB + 1) }, '"BIG"', "limit of 64 KiB");
    expect((await start({ BIG: "x".repeat(64 * KiB) })).status).toBe(201);
    expect((await start({ BIG: "é".repeat(32 * KiB) })).status).toBe(201);
  });

  it("refuses variables over 256 KiB together, and takes 256 KiB", async () => {
    await expectRefused(many(5, "x".repeat(60 * KiB)), "together", "limit of 256 KiB");
    // Four values one byte short of 64 KiB, with one-letter names: exactly 256 KiB in all.
    expect((await start({ A: "x".repeat(64 * KiB - 1), B: "x".repeat(64 * KiB - 1), C: "x".repeat(64 * KiB - 1), D: "x".repeat(64 * KiB - 1) })).status).toBe(201);
  });
});

describe("run variables that would change how programs run", () => {
  it("are refused: the loader, shells and interpreters, git, lookup paths, the checkout token", async () => {
    for (const name of ["LD_PRELOAD", "PATH", "BASH_ENV", "NODE_OPTIONS", "git_ssh_command", "GIT_CONFIG_COUNT", "HOME", "PYTHONPATH", "CHECKOUT_TOKEN", "BASH_FUNC_ls%%"]) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
      await expectRefused({ [name]: "/tmp/evil" }, `"${name}" would change how the tasks' programs run`);
    }
    // Ordinary names are fine, and so is a pipeline setting PATH in its own variables.
    expect((await start({ DEPLOY_TARGET: "eu", PATHNAME: "/x" })).status).toBe(201);
  });

  it("cannot be mapped by a webhook trigger: the file does not load", async () => {
    const error = await waitFor(async () => {
      const response = await gantry.api("/pipelines/default/hook-path");
      if (response.status !== 200) return undefined;
      return ((await response.json()) as { pipeline: { error?: { issues: { path: string; message: string }[] } } }).pipeline.error;
    }, 20_000);
    expect(error.issues[0]!.message).toContain("would change how the tasks' programs run");
  });
});

describe("run variables from the web start form", () => {
  it("shows the limit on the form and starts nothing", async () => {
    const web = await webLogin(gantry.url, gantry.token);
    const before = await runCount();
    const response = await web.post("/pipelines/default/vars/runs", { extra: `BIG=${"x".repeat(64 * KiB + 1)}` });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("limit of 64 KiB");
    expect(await runCount()).toBe(before);
  });
});

describe("run variables from gantry run start -v", () => {
  it("exits 2 with the limit named", async () => {
    const proc = Bun.spawn([process.execPath, "app/main.ts", "run", "start", "default/vars", "-v", `BIG=${"x".repeat(64 * KiB + 1)}`], {
      cwd: REPO_ROOT,
      env: { ...process.env, GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(exitCode).toBe(2);
    expect(stdout + stderr).toContain("limit of 64 KiB");
  });
});

describe("run variables mapped by a webhook trigger", () => {
  const pipeline = async (id: string) =>
    waitFor(async () => {
      const response = await gantry.api(`/pipelines/default/${id}`);
      return response.status === 200 ? ((await response.json()) as { pipeline: { version: number | null; error?: { issues: { path: string; message: string }[] } } }).pipeline : undefined;
    });

  it("refuses at load a mapping of more than 100 variables or a name over 128 characters, and loads one right at the limits", async () => {
    expect((await pipeline("hook-ok")).version).toBe(1);
    const tooMany = await pipeline("hook-many");
    expect(tooMany.version).toBeNull();
    expect(tooMany.error!.issues).toContainEqual({ path: "triggers.0.variables", message: expect.stringContaining("at most 100 variables") });
    const tooLong = await pipeline("hook-long");
    expect(tooLong.version).toBeNull();
    expect(tooLong.error!.issues[0]!.message).toContain("at most 128 characters");
  });
});
