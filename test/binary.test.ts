// The compiled binary (`bun run build` → dist/gantry), run from an empty directory far from
// any node_modules: it migrates, loads pipeline files (and their own packages) from outside
// itself, runs run() tasks and ignores .env and bunfig.toml where it is started.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { startGantryProcess, waitFor, waitForRun, type GantryProcess } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir } from "./helpers/temp.ts";
import { createGitRepo, startGitHttpServer } from "./helpers/git-server.ts";
import { cpSync, readFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { signBody } from "../app/domain/hmac-signature.ts";
import { freePort } from "./helpers/ports.ts";

// The binary and the servers it starts need more than bun test's 5 s default.
setDefaultTimeout(60_000);

// It takes a typed input (valibot from the binary, an asynchronous module there) and awaits
// at its top level: the loader and the runner import what they cannot require.
const PIPELINE = `
import { definePipeline, run } from "gantry";
import * as v from "valibot";
import { baton } from "baton";

const greeting = await new Promise((resolve) => setTimeout(() => resolve("awaited"), 5));

export default definePipeline({
  id: "relay",
  name: "Relay",
  inputs: { who: v.string() },
  tasks: {
    first: run(async (ctx) => {
      await Bun.write(ctx.workspace + "/baton.txt", baton());
      ctx.log("runner " + process.execPath);
      ctx.log("for " + ctx.inputs.who + ", " + greeting);
    }),
    second: run(
      async (ctx) => {
        ctx.log("second got: " + (await Bun.file(ctx.workspace + "/baton.txt").text()));
      },
      { needs: { first: "success" } },
    ),
  },
});
`;

/** Every folder from `dir` up to /, none of which may hold a node_modules. */
function ancestors(dir: string): string[] {
  const all = [dir];
  while (dirname(all[all.length - 1]!) !== all[all.length - 1]) all.push(dirname(all[all.length - 1]!));
  return all;
}

let binaryPath: string;
let gantry: GantryProcess;
const started: GantryProcess[] = [];

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${gantry.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${gantry.token}`, "content-type": "application/json" },
  });
}

async function startBinary(cwd: string, pipelinesDir?: string): Promise<GantryProcess> {
  const server = await startGantryProcess({ command: [binaryPath, "serve"], cwd, ...(pipelinesDir && { pipelinesDir }) });
  started.push(server);
  return server;
}

describe("compiled binary", () => {
  beforeAll(async () => {
    const build = Bun.spawn([process.execPath, "run", "build"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()]);
    if (code !== 0) throw new Error(`bun run build failed (${code}):\n${out}${err}`);

    const binDir = tempDir("gantry-binary-");
    for (const dir of ancestors(binDir)) expect(existsSync(join(dir, "node_modules"))).toBe(false);
    binaryPath = join(binDir, "gantry");
    copyFileSync(join(REPO_ROOT, "dist", "gantry"), binaryPath);
    chmodSync(binaryPath, 0o755);
    // Installed as a binary would be: the sandbox user runs it too (a temp dir is 0700).
    chmodSync(binDir, 0o755);

    const pipelinesDir = tempDir("gantry-binary-pipelines-");
    writeFileSync(join(pipelinesDir, "relay.ts"), PIPELINE);
    // A package of the pipelines' own, resolved by the Bun.build that runs inside the binary.
    mkdirSync(join(pipelinesDir, "node_modules", "baton"), { recursive: true });
    writeFileSync(join(pipelinesDir, "node_modules", "baton", "package.json"), `{ "name": "baton", "type": "module", "main": "index.js" }`);
    writeFileSync(join(pipelinesDir, "node_modules", "baton", "index.js"), `export const baton = () => "baton from first";\n`);
    writeFileSync(join(pipelinesDir, "syntax.ts"), `import { definePipeline } from "gantry";\nexport default definePipeline({ id: "syntax", tasks: { a: ( } });\n`);
    writeFileSync(
      join(pipelinesDir, "loop.ts"),
      `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "loop", tasks: { a: run(() => {}, { needs: { ghost: "success" } }) } });\n`,
    );
    gantry = await startBinary(binDir, pipelinesDir);
  }, 180_000);

  afterAll(async () => {
    for (const server of started) await server.stop();
  });

  it("answers health without a token", async () => {
    const response = await fetch(`${gantry.url}/api/v1/health`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { status: string }).status).toBe("ok");
  });

  it("answers a Prometheus scrape, its client loaded on the first one", async () => {
    const response = await fetch(`${gantry.url}/metrics`, { headers: { authorization: `Bearer ${gantry.token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    expect(await response.text()).toMatch(/^gantry_info\{version="[^"]+"\} 1$/m);
  });

  it("serves the web UI and its embedded assets", async () => {
    const login = await fetch(`${gantry.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: gantry.token }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = /gantry_session=[^;]*/.exec(login.headers.get("set-cookie") ?? "")?.[0] ?? "";
    const page = await fetch(`${gantry.url}/pipelines/default/relay`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<svg");
    for (const asset of html.match(/\/public\/[a-z.-]+\?v=\w+/g) ?? []) {
      const response = await fetch(`${gantry.url}${asset}`);
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
      expect((await response.text()).length).toBeGreaterThan(100);
    }
    expect(html).toContain("/public/htmx.js");
    // The API reference's Swagger UI, embedded as files (read when asked for), not as text.
    const docs = await (await fetch(`${gantry.url}/api/docs`, { headers: { cookie } })).text();
    const swagger = docs.match(/\/public\/swagger-ui\.(?:js|css)\?v=\w+/g) ?? [];
    expect(swagger).toHaveLength(2);
    for (const asset of swagger) {
      const response = await fetch(`${gantry.url}${asset}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain(asset.includes(".js") ? "text/javascript" : "text/css");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect((await response.text()).length).toBeGreaterThan(100_000);
    }
  });

  it("syncs a git source, installing its packages with the binary acting as bun, and runs it", async () => {
    const root = tempDir("gantry-binary-git-");
    const repo = await createGitRepo(root, "ops");
    await repo.commit({
      ".gantry/package.json": JSON.stringify({ name: "pipes", private: true, dependencies: { shout: "file:./vendor/shout" } }),
      ".gantry/bun.lock": '{\n  "lockfileVersion": 2,\n  "configVersion": 1,\n  "workspaces": {\n    "": {\n      "name": "pipes",\n      "dependencies": {\n        "shout": "file:./vendor/shout",\n      },\n    },\n  },\n  "packages": {\n    "shout": ["shout@file:vendor/shout", {}],\n  }\n}\n',
      ".gantry/vendor/shout/package.json": JSON.stringify({ name: "shout", version: "1.0.0", main: "index.js" }),
      ".gantry/vendor/shout/index.js": 'module.exports = (s) => s.toUpperCase() + "!";',
      ".gantry/hello.ts": 'import { definePipeline, run } from "gantry";\nimport shout from "shout";\nexport default definePipeline({ id: "hello", tasks: { a: run(async (ctx) => ctx.log(shout("from git"))) } });\n',
    });
    const server = await startGitHttpServer(root);
    try {
      expect((await api("/sources/ops", { method: "PUT", body: JSON.stringify({ repo: `${server.url}/ops.git`, pollInterval: 0 }) })).status).toBe(201);
      await waitFor(async () => {
        const { source } = (await (await api("/sources/ops")).json()) as { source: { state: string; error?: string } };
        if (source.state === "error") throw new Error(source.error);
        return source.state === "ok" ? true : undefined;
      }, 60_000);
      const { source } = (await (await api("/sources/ops")).json()) as { source: { lastSync?: { failures: unknown[] } } };
      expect(source.lastSync?.failures).toEqual([]);
      const started = (await (await api("/pipelines/ops/hello/runs", { method: "POST", body: "{}" })).json()) as { run: { id: number } };
      const run = await waitForRun(api, "ops/hello", started.run.id);
      expect(run.state).toBe("successful");
      expect(await (await api(`/pipelines/ops/hello/runs/${run.id}/tasks/a/logs`)).text()).toContain("FROM GIT!");
    } finally {
      await server.stop();
    }
  });

  it("lists the pipeline loaded from the folder outside it", async () => {
    const body = (await (await api("/pipelines")).json()) as { pipelines: { id: string; version: number; tasks: { id: string }[]; error?: unknown }[] };
    const relay = body.pipelines.find((pipeline) => pipeline.id === "relay");
    expect(relay?.error).toBeUndefined();
    expect(relay?.version).toBe(1);
    expect(relay?.tasks.map((task) => task.id)).toEqual(["first", "second"]);
  });

  it("runs run() tasks in order, each by re-executing the binary", async () => {
    const response = await api("/pipelines/default/relay/runs", { method: "POST", body: JSON.stringify({ inputs: { who: "the relay" } }) });
    expect(response.status).toBe(201);
    const { run } = (await response.json()) as { run: { id: number } };
    const finished = await waitForRun(api, "default/relay", run.id);
    expect(finished.state).toBe("successful");
    expect(finished.tasks.map((task) => [task.id, task.state])).toEqual([
      ["first", "successful"],
      ["second", "successful"],
    ]);
    const second = await (await api(`/pipelines/default/relay/runs/${run.id}/tasks/second/logs`)).text();
    expect(second).toContain("second got: baton from first");
    const first = await (await api(`/pipelines/default/relay/runs/${run.id}/tasks/first/logs`)).text();
    expect(first).toContain(`runner ${binaryPath}`);
    expect(first).toContain("for the relay, awaited");
  });

  it("shows a file that does not bundle with its load error", async () => {
    const body = (await (await api("/pipelines")).json()) as { pipelines: { id: string; error?: { issues: { message: string }[] } }[] };
    const syntax = body.pipelines.find((pipeline) => pipeline.id === "syntax");
    expect(syntax?.error?.issues.length).toBeGreaterThan(0);
  });

  it("shows a file that fails validation with its load error", async () => {
    const body = (await (await api("/pipelines")).json()) as { pipelines: { id: string; error?: { issues: { path: string; message: string }[] } }[] };
    const loop = body.pipelines.find((pipeline) => pipeline.id === "loop");
    expect(loop?.error?.issues).toContainEqual({ path: "tasks.a.needs.ghost", message: 'unknown task "ghost"' });
  });

  it("keeps each edited version of a file as its own bundle", async () => {
    writeFileSync(join(gantry.pipelinesDir, "relay.ts"), PIPELINE.replace('name: "Relay"', 'name: "Relay, edited"'));
    await waitFor(
      async () => {
        const body = (await (await api("/pipelines/default/relay")).json()) as { pipeline: { version: number } };
        return body.pipeline.version === 2 || undefined;
      },
      15_000,
      "version 2 of relay",
    );
    const body = (await (await api("/pipelines/default/relay/versions")).json()) as { versions: { version: number; hash: string }[] };
    const hashes = body.versions.map((version) => version.hash);
    expect(new Set(hashes).size).toBe(2);
    const bundles = readdirSync(join(gantry.dataDir, "bundles"));
    for (const hash of hashes) expect(bundles).toContain(`${hash}.js`);
  });

  it("runs a pipeline's tests with gantry test, the kit and valibot from the binary, no node_modules near", async () => {
    const dir = tempDir("gantry-binary-tests-");
    writeFileSync(
      join(dir, "greet.ts"),
      `import * as v from "valibot";\nimport { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "greet", inputs: { who: v.string() }, tasks: { hello: run((ctx) => ctx.log("hello " + ctx.inputs.who)) } });\n`,
    );
    writeFileSync(
      join(dir, "greet.test.ts"),
      `import { expect, it } from "bun:test";\nimport { testRun } from "gantry/testing";\nimport greet from "./greet.ts";\nit("greets", async () => {\n  const run = await testRun(greet, { inputs: { who: "binary" } });\n  expect(run).toHaveSucceeded();\n  expect(run.task("hello").log).toBe("hello binary");\n});\n`,
    );
    const tested = Bun.spawn([binaryPath, "test", "."], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } });
    const [code, out, err] = await Promise.all([tested.exited, new Response(tested.stdout).text(), new Response(tested.stderr).text()]);
    expect({ code, output: out + err }).toMatchObject({ code: 0 });
    expect(out + err).toContain("(pass) greets");
    expect(out + err).toMatch(/^ 1 pass$/m);
  });

  it("ignores .env and bunfig.toml in the directory it starts in", async () => {
    const dir = tempDir("gantry-binary-cwd-");
    // Either would stop or change start-up if read: a bad setting, and a preload that leaves a mark.
    writeFileSync(join(dir, ".env"), "GANTRY_HOOKS_PORT=not-a-port\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    writeFileSync(join(dir, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(join(dir, "preloaded"))}, "yes");\n`);
    const server = await startBinary(dir);
    const health = await fetch(`${server.url}/api/v1/health`);
    expect(health.status).toBe(200);
    expect(existsSync(join(dir, "preloaded"))).toBe(false);
  });

  it("runs the github extension from a folder beside it, with GitHub's libraries from the binary", async () => {
    // A GitHub of its own: installation tokens and check runs, each request recorded.
    const requests: { method: string; path: string; authorization: string | null }[] = [];
    const fakeGithub = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const path = new URL(request.url).pathname;
        requests.push({ method: request.method, path, authorization: request.headers.get("authorization") });
        await request.text();
        if (path.endsWith("/access_tokens")) return Response.json({ token: "ghs_from_binary", expires_at: new Date(Date.now() + 3_600_000).toISOString() }, { status: 201 });
        if (path.endsWith("/check-runs")) return Response.json({ id: 7 }, { status: 201 });
        return Response.json({ id: 7 });
      },
    });
    try {
      // The built-in extensions copied where no node_modules is near, as beside an installed binary.
      const extensionsDir = join(tempDir("gantry-binary-extensions-"), "extensions");
      cpSync(join(REPO_ROOT, "extensions"), extensionsDir, { recursive: true });
      for (const dir of ancestors(extensionsDir)) expect(existsSync(join(dir, "node_modules"))).toBe(false);
      const pipelinesDir = tempDir("gantry-binary-github-");
      writeFileSync(
        join(pipelinesDir, "gh.ts"),
        `import { definePipeline, github, run } from "gantry";\nexport default definePipeline({ id: "gh", triggers: [github({ repo: "acme/api", events: ["push"], branches: ["main"] })], tasks: { a: run(() => {}) } });\n`,
      );
      const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
      const hooksPort = freePort();
      const server = await startGantryProcess({
        command: [binaryPath, "serve"],
        cwd: dirname(binaryPath),
        pipelinesDir,
        env: {
          GANTRY_EXTENSIONS_DIR: extensionsDir,
          GANTRY_HOOKS_PORT: String(hooksPort),
          GANTRY_EXTENSIONS_CONFIG: JSON.stringify({ github: { appId: 99, privateKey, webhookSecret: "binary-secret", apiUrl: `http://127.0.0.1:${fakeGithub.port}` } }),
        },
      });
      started.push(server);
      const status = (await (await server.api("/extensions/github")).json()) as { extension: { state: string; error?: string } };
      expect(status.extension).toMatchObject({ state: "running" });
      await waitFor(async () => (await server.api("/pipelines/default/gh")).status === 200, 20_000);

      const push = JSON.parse(readFileSync(join(REPO_ROOT, "test", "fixtures", "github", "push.json"), "utf8")) as Record<string, unknown>;
      const body = new TextEncoder().encode(JSON.stringify(push));
      const deliver = (signature: string) =>
        fetch(`http://127.0.0.1:${hooksPort}/hooks/github`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signature },
          body,
        });
      expect((await deliver(signBody("not-the-secret", body))).status).toBe(401);
      const accepted = await deliver(signBody("binary-secret", body));
      expect(accepted.status).toBe(202);
      const { runs } = (await accepted.json()) as { runs: { id: number }[] };
      const run = await waitForRun(server.api, "default/gh", runs[0]!.id);
      expect(run.state).toBe("successful");
      // The App's JWT bought an installation token, which made and completed the check run.
      await waitFor(() => requests.some((request) => request.method === "PATCH" && request.path === "/repos/acme/api/check-runs/7"), 15_000);
      expect(requests.find((request) => request.path.endsWith("/access_tokens"))?.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/i);
      expect(requests.find((request) => request.method === "POST" && request.path === "/repos/acme/api/check-runs")?.authorization).toBe("Bearer ghs_from_binary");
    } finally {
      fakeGithub.stop(true);
    }
  });
});
