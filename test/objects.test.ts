// The object store end to end on a real server: raw bytes through the API, the pipeline
// count limit, run expiry, key rules (nothing escapes the objects folder), the size limit,
// ctx.objects in run() tasks, a container using its injected token, permissions and the CLI.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readLog, startRun, startTestGantry, waitFor, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const MAX_BYTES = 64 * 1024;
const PIPELINE_LIMIT = 3;
const RUN_EXPIRY = 2;
const IMAGE = "local/busybox:latest";

const HEADER = `import { definePipeline, run, container } from "gantry";\n`;
const quick = (id: string) => `${HEADER}export default definePipeline({ id: "${id}", tasks: { a: run((ctx) => ctx.log("ran ${id}")) } });\n`;

const PIPELINES: Record<string, string> = {
  ...Object.fromEntries(["bytes", "listed", "limited", "expiry", "keys", "sizes", "runs", "guarded", "cli"].map((id) => [`${id}.ts`, quick(id)])),
  // What children started with Bun.spawn and Bun.spawnSync get, and Bun.which sees: on a warm
  // runner and on one started for the task (network: "none").
  "children.ts": `${HEADER}
const probe = async (ctx) => {
  process.env.PATH = ctx.workspace + "/bin:" + process.env.PATH;
  await ctx.$\`mkdir -p bin && printf '#!/bin/sh\\necho tool' > bin/probe-tool && chmod 755 bin/probe-tool\`;
  const spawned = [Bun.spawnSync(["sh", "-c", "env"]).stdout.toString(), await new Response(Bun.spawn({ cmd: ["sh", "-c", "env"], stdout: "pipe" }).stdout).text()];
  ctx.log("children-have-token", spawned.map((env) => env.includes("gty_")).join(","));
  ctx.log("children-have-task-variable", spawned.map((env) => env.includes("FROM_TASK=yes")).join(","));
  ctx.log("which-finds-tool", String(Bun.which("probe-tool") === ctx.workspace + "/bin/probe-tool"));
  // The environment the runner started with, as its children can read it: the sandbox's PID 1 (bwrap's) has it too.
  const startEnv = await ctx.$\`cat /proc/1/environ\`.text();
  ctx.log("runner-start-env-readable", String(startEnv.includes("PATH=")), "has-token", String(startEnv.includes("gty_")));
  // What a child could take from the runner (same user, no Yama here): its start-up
  // environment, and its memory (the tokens, the end key) at a mapping the runner has.
  const mapped = (await Bun.file("/proc/self/maps").text()).split(" ")[0].split("-")[0];
  const peek = Bun.spawnSync([process.execPath, "-e", \`
    const fs = require("node:fs");
    const attempt = (read) => { try { read(); return "read"; } catch (error) { return error.code; } };
    console.log([
      attempt(() => fs.readFileSync("/proc/\${process.pid}/environ")),
      attempt(() => fs.readSync(fs.openSync("/proc/\${process.pid}/mem", "r"), Buffer.alloc(16), 0, 16, \${parseInt(mapped, 16)})),
      attempt(() => fs.readFileSync("/proc/self/environ")),
    ].join(","));
  \`]);
  ctx.log("child-reads-runner-environ,runner-memory,own-environ", peek.stdout.toString().trim(), peek.stderr.toString().trim());
};
export default definePipeline({ id: "children", tasks: {
  warm: run(probe, { env: { FROM_TASK: "yes" } }),
  own: run(probe, { env: { FROM_TASK: "yes" }, network: "none", needs: { warm: "any" } }),
  // A variable only a starting Bun reads: a runner of its own, which gets the token with "go".
  "own-objects": run(async (ctx) => {
    await ctx.objects.put("own.txt", "put by a runner of its own", "run");
    ctx.log("own-objects", new TextDecoder().decode(await ctx.objects.get("own.txt", "run")));
    ctx.log("own-argv", process.argv.slice(2).join(" "));
  }, { env: { BUN_CONFIG_VERBOSE_FETCH: "false" }, needs: { own: "any" } }),
} });
`,
  // Hands objects from one task to a dependent one, in both scopes, and reports what its
  // environment (and a child process's) holds.
  "relay.ts": `${HEADER}export default definePipeline({ id: "relay", tasks: {
    writer: run(async (ctx) => {
      await ctx.objects.put("shared/note.txt", "from the writer of run " + ctx.env.GANTRY_RUN_ID);
      await ctx.objects.put("mine.bin", new Uint8Array([0, 1, 2, 250, 255]), "run");
      ctx.log("env-objects-vars", JSON.stringify(Object.keys(ctx.env).filter((name) => name.includes("OBJECTS"))));
      ctx.log("env-has-token", Object.values(ctx.env).some((value) => String(value).startsWith("gty_")));
      ctx.log("process-env-has-token", Object.values(process.env).some((value) => String(value).startsWith("gty_")));
      ctx.log("child-env-has-token", (await ctx.$\`env\`.text()).includes("gty_"));
    }),
    reader: run(async (ctx) => {
      const note = await ctx.objects.get("shared/note.txt");
      ctx.log("note", new TextDecoder().decode(note));
      ctx.log("mine", JSON.stringify([...(await ctx.objects.get("mine.bin", "run"))]));
      ctx.log("mine-in-pipeline-scope", String(await ctx.objects.get("mine.bin")));
      ctx.log("missing", String(await ctx.objects.get("nothing/here")));
      try {
        await ctx.objects.put("../escape", "x");
        ctx.log("bad-key", "accepted");
      } catch (error) {
        ctx.log("bad-key", error.message);
      }
    }, { needs: { writer: "success" } }),
  } });\n`,
  // A container talks to the API with its injected token: busybox wget cannot PUT (no
  // --method), so the PUT is raw HTTP over busybox nc; the GET is wget.
  "boxed.ts": `${HEADER}export default definePipeline({ id: "boxed", tasks: {
    box: container({
      image: ${JSON.stringify(IMAGE)},
      pull: "never",
      injectApiToken: true,
      command: ["sh", "-c", ${JSON.stringify(
        [
          "set -e",
          "hostport=${GANTRY_API_URL#http://}",
          "body='made in a container'",
          "path=/api/v1/pipelines/default/boxed/objects/from-container.txt",
          'printf "PUT $path HTTP/1.1\\r\\nHost: $hostport\\r\\nAuthorization: Bearer $GANTRY_API_TOKEN\\r\\nContent-Type: application/octet-stream\\r\\nContent-Length: ${#body}\\r\\nConnection: close\\r\\n\\r\\n$body" | busybox nc ${hostport%:*} ${hostport##*:} | head -1',
          'echo "got: $(busybox wget -q -O - --header "Authorization: Bearer $GANTRY_API_TOKEN" "$GANTRY_API_URL$path")"',
        ].join("\n"),
      )}],
    }),
  } });\n`,
};

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const objectsDir = () => join(gantry.dataDir, "objects");

/** PUT of raw bytes. */
const put = (path: string, body: string | Uint8Array | Blob, headers: Record<string, string> = {}) =>
  api(path, { method: "PUT", body, headers: { "content-type": "application/octet-stream", ...headers } });

interface ObjectJson {
  key: string;
  size: number;
  sha256: string;
  createdAt: string;
  updatedAt: string;
}

const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

async function listKeys(path: string): Promise<string[]> {
  const response = await api(path);
  expect(response.status).toBe(200);
  return ((await response.json()) as { objects: ObjectJson[] }).objects.map((object) => object.key);
}

/** Every file under a folder, as paths relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((path) => statSync(join(dir, path)).isFile()).sort();
}

async function expectError(response: Response, status: number, code: string, message?: RegExp): Promise<string> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(response.status).toBe(status);
  expect(body.error.code).toBe(code);
  if (message) expect(body.error.message).toMatch(message);
  return body.error.message;
}

beforeAll(async () => {
  const dir = tempDir("gantry-pipelines-");
  for (const [file, source] of Object.entries(PIPELINES)) writeFile(join(dir, file), source);
  gantry = await startTestGantry({
    pipelinesDir: dir,
    env: {
      GANTRY_OBJECT_MAX_BYTES: String(MAX_BYTES),
      GANTRY_OBJECT_PIPELINE_LIMIT: String(PIPELINE_LIMIT),
      GANTRY_OBJECT_RUN_EXPIRY: String(RUN_EXPIRY),
      GANTRY_CONTAINER_NETWORK: "host",
    },
  });
});
afterAll(() => gantry?.stop());

describe("object API", () => {
  it("round-trips binary bytes and answers with the object's metadata", async () => {
    const bytes = new Uint8Array(3000).map((_, i) => (i * 7) % 256);
    const created = await put("/pipelines/default/bytes/objects/build/out.bin", bytes);
    expect(created.status).toBe(201);
    const { object } = (await created.json()) as { object: ObjectJson };
    expect(object).toMatchObject({ key: "build/out.bin", size: 3000, sha256: sha256(bytes) });
    expect(Date.parse(object.createdAt)).not.toBeNaN();

    // The key's slashes may be sent as they are or escaped: the same object.
    for (const path of ["/pipelines/default/bytes/objects/build/out.bin", "/pipelines/default/bytes/objects/build%2Fout.bin"]) {
      const response = await api(path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/octet-stream");
      expect(response.headers.get("content-length")).toBe("3000");
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    }

    await Bun.sleep(5);
    const replaced = await put("/pipelines/default/bytes/objects/build/out.bin", "now text");
    expect(replaced.status).toBe(200);
    const after = ((await replaced.json()) as { object: ObjectJson }).object;
    expect(after).toMatchObject({ key: "build/out.bin", size: 8, sha256: sha256("now text"), createdAt: object.createdAt });
    expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(object.updatedAt));
    expect(await (await api("/pipelines/default/bytes/objects/build/out.bin")).text()).toBe("now text");

    // Empty is a size like any other.
    expect((await put("/pipelines/default/bytes/objects/empty", new Uint8Array(0))).status).toBe(201);
    const empty = await api("/pipelines/default/bytes/objects/empty");
    expect(empty.status).toBe(200);
    expect((await empty.arrayBuffer()).byteLength).toBe(0);

    const deleted = await api("/pipelines/default/bytes/objects/build/out.bin", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ deleted: "build/out.bin" });
    await expectError(await api("/pipelines/default/bytes/objects/build/out.bin"), 404, "not_found", /build\/out\.bin not found/);
    await expectError(await api("/pipelines/default/bytes/objects/build/out.bin", { method: "DELETE" }), 404, "not_found");
  });

  it("lists a pipeline's objects by key with size, sha256 and dates", async () => {
    for (const [key, body] of [["b.txt", "bee"], ["a/one", "1"], ["c-3_x.v2", "see"]] as const) {
      expect((await put(`/pipelines/default/listed/objects/${key}`, body)).status).toBe(201);
    }
    const response = await api("/pipelines/default/listed/objects");
    const { objects } = (await response.json()) as { objects: ObjectJson[] };
    expect(objects.map((object) => object.key)).toEqual(["a/one", "b.txt", "c-3_x.v2"]);
    expect(objects[1]).toEqual({ key: "b.txt", size: 3, sha256: sha256("bee"), createdAt: expect.any(String), updatedAt: expect.any(String) });
    await expectError(await api("/pipelines/default/no-such/objects"), 404, "not_found", /pipeline default\/no-such not found/);
  });

  it("keeps at most the pipeline limit, evicting the least recently written", async () => {
    for (const key of ["k1", "k2", "k3"]) expect((await put(`/pipelines/default/limited/objects/${key}`, key)).status).toBe(201);
    // Rewriting k1 makes k2 the least recently written.
    expect((await put("/pipelines/default/limited/objects/k1", "k1 again")).status).toBe(200);
    expect((await put("/pipelines/default/limited/objects/k4", "k4")).status).toBe(201);
    expect(await listKeys("/pipelines/default/limited/objects")).toEqual(["k1", "k3", "k4"]);
    await expectError(await api("/pipelines/default/limited/objects/k2"), 404, "not_found");
    expect(await (await api("/pipelines/default/limited/objects/k1")).text()).toBe("k1 again");
    // The evicted bytes are gone from disk too.
    expect(filesUnder(join(objectsDir(), "default", "limited"))).toHaveLength(PIPELINE_LIMIT);
  });

  it(`expires a run's objects once ${RUN_EXPIRY} later runs exist`, async () => {
    const first = await waitForRun(api, "default/expiry", (await startRun(api, "default/expiry")).id);
    expect((await put(`/pipelines/default/expiry/runs/${first.id}/objects/report.txt`, "first run")).status).toBe(201);
    expect((await put("/pipelines/default/expiry/objects/kept", "pipeline scope")).status).toBe(201);
    const runFolder = join(objectsDir(), "default", "expiry", "runs", String(first.id));
    expect(filesUnder(runFolder)).toHaveLength(1);

    await waitForRun(api, "default/expiry", (await startRun(api, "default/expiry")).id);
    // One later run: still there.
    expect(await (await api(`/pipelines/default/expiry/runs/${first.id}/objects/report.txt`)).text()).toBe("first run");

    const third = await startRun(api, "default/expiry");
    // Two later runs exist from the moment the third is created.
    await expectError(await api(`/pipelines/default/expiry/runs/${first.id}/objects/report.txt`), 404, "not_found", /expired/);
    expect(await listKeys(`/pipelines/default/expiry/runs/${first.id}/objects`)).toEqual([]);
    await expectError(await put(`/pipelines/default/expiry/runs/${first.id}/objects/late`, "too late"), 409, "conflict", /expired/);
    await waitForRun(api, "default/expiry", third.id);
    // Its bytes are removed once the run that expired them has ended.
    await waitFor(() => !existsSync(runFolder), 10_000, "the expired run's folder to go");
    // Pipeline objects do not expire with runs; the second run's are still within the window.
    expect(await (await api("/pipelines/default/expiry/objects/kept")).text()).toBe("pipeline scope");
  });

  it("answers 404 for the objects of a run that does not exist", async () => {
    await expectError(await api("/pipelines/default/runs/runs/99/objects"), 404, "not_found", /run 99 of default\/runs not found/);
    await expectError(await api("/pipelines/default/runs/runs/99/objects/a"), 404, "not_found", /run 99/);
    await expectError(await put("/pipelines/default/runs/runs/99/objects/a", "x"), 404, "not_found", /run 99/);
    await expectError(await api("/pipelines/default/runs/runs/99/objects/a", { method: "DELETE" }), 404, "not_found", /run 99/);
    expect(existsSync(join(objectsDir(), "default", "runs"))).toBe(false);
  });
});

describe("object keys", () => {
  const BAD_KEYS: [string, RegExp][] = [
    ["../x", /must not contain '\.\.'/],
    ["a/../../b", /must not contain '\.\.'/],
    ["..hidden", /must not contain '\.\.'/],
    ["/abs", /must not start with '\/'/],
    ["a//b", /must not contain '\/\/'/],
    ["a/", /must not end with '\/'/],
    ["a/./b", /'\.' path segment/],
    ["a\u0001b", /control characters/],
    ["new\nline", /control characters/],
    ["a b", /may only contain/],
    ["back\\slash", /may only contain/],
    ["x".repeat(257), /at most 256 characters/],
  ];

  it("refuses bad keys with 400 naming the rule, and writes nothing", async () => {
    const before = filesUnder(objectsDir());
    for (const [key, rule] of BAD_KEYS) {
      const path = `/pipelines/default/keys/objects/${encodeURIComponent(key)}`;
      const message = await expectError(await put(path, "sneaky"), 400, "invalid", rule);
      expect(message).toContain("object key");
      await expectError(await api(path), 400, "invalid", rule);
      await expectError(await api(path, { method: "DELETE" }), 400, "invalid", rule);
    }
    // The longest allowed key is fine.
    expect((await put(`/pipelines/default/keys/objects/${"k".repeat(256)}`, "long")).status).toBe(201);
    const after = filesUnder(objectsDir());
    expect(after.filter((path) => !before.includes(path))).toHaveLength(1);
  });

  it("never lets an unnormalised path reach outside the objects folder", async () => {
    const { hostname, port } = new URL(gantry.url);
    // Raw HTTP, so no client collapses the dots first.
    for (const target of ["../../../../escaped", "..%2F..%2F..%2Fescaped", "a/..%2F..%2Fescaped", "%2Fescaped"]) {
      const answer = await rawRequest(hostname, Number(port), `PUT /api/v1/pipelines/default/keys/objects/${target} HTTP/1.1`, "sneaky");
      expect(answer, target).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
    expect(filesUnder(gantry.dataDir).some((path) => path.endsWith("escaped"))).toBe(false);
    for (const dir of [join(gantry.dataDir, ".."), join(gantry.dataDir, "..", ".."), REPO_ROOT]) expect(existsSync(join(dir, "escaped"))).toBe(false);
    // Only hashed names in the expected layout, and no temp file left.
    for (const path of filesUnder(objectsDir())) {
      expect(path).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+\/(pipeline|runs\/\d+)\/[0-9a-f]{64}$/);
    }
  });
});

describe("object size limit", () => {
  it("answers 413 for a declared Content-Length over the limit and stores nothing", async () => {
    expect((await put("/pipelines/default/sizes/objects/keep", "original")).status).toBe(201);
    const tooBig = new Uint8Array(MAX_BYTES + 1);
    await expectError(await put("/pipelines/default/sizes/objects/big", tooBig), 413, "too_large", /limit of 65536 bytes/);
    await expectError(await put("/pipelines/default/sizes/objects/keep", tooBig), 413, "too_large");
    // Exactly the limit is allowed.
    expect((await put("/pipelines/default/sizes/objects/max", new Uint8Array(MAX_BYTES))).status).toBe(201);
    expect(await listKeys("/pipelines/default/sizes/objects")).toEqual(["keep", "max"]);
    expect(await (await api("/pipelines/default/sizes/objects/keep")).text()).toBe("original");
  });

  it("stops reading a streamed body at the limit, answers 413 and stores nothing", async () => {
    let sent = 0;
    const chunk = new Uint8Array(16 * 1024).fill(7);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Far past the limit; the server must not wait for all of it.
        if (sent >= MAX_BYTES * 64) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${gantry.url}/api/v1/pipelines/default/sizes/objects/streamed`, {
      method: "PUT",
      body,
      headers: { authorization: `Bearer ${gantry.token}` },
      duplex: "half",
    } as RequestInit);
    await expectError(response, 413, "too_large", /larger than the limit of 65536 bytes/);
    await expectError(await api("/pipelines/default/sizes/objects/streamed"), 404, "not_found");
    // A replacement that is too big leaves the old bytes alone.
    const overwrite = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(MAX_BYTES / 2));
        controller.close();
      },
    });
    const replaced = await fetch(`${gantry.url}/api/v1/pipelines/default/sizes/objects/keep`, {
      method: "PUT",
      body: overwrite,
      headers: { authorization: `Bearer ${gantry.token}` },
      duplex: "half",
    } as RequestInit);
    await expectError(replaced, 413, "too_large");
    expect(await (await api("/pipelines/default/sizes/objects/keep")).text()).toBe("original");
    expect(filesUnder(join(objectsDir(), ".tmp"))).toEqual([]);
    expect(filesUnder(join(objectsDir(), "default", "sizes"))).toHaveLength(2);
  });
});

describe("ctx.objects in run() tasks", () => {
  it("puts in one task and gets in a dependent one, in both scopes, with the token kept out of ctx.env", async () => {
    const run = await waitForRun(api, "default/relay", (await startRun(api, "default/relay")).id);
    const writerLog = await readLog(api, "default/relay", run.id, "writer");
    const readerLog = await readLog(api, "default/relay", run.id, "reader");
    expect(run.state, `${writerLog}\n${readerLog}`).toBe("successful");
    expect(writerLog).toContain("env-objects-vars []");
    expect(writerLog).toContain("env-has-token false");
    expect(writerLog).toContain("process-env-has-token false");
    expect(writerLog).toContain("child-env-has-token false");
    expect(readerLog).toContain(`note from the writer of run ${run.id}`);
    expect(readerLog).toContain("mine [0,1,2,250,255]");
    expect(readerLog).toContain("mine-in-pipeline-scope undefined");
    expect(readerLog).toContain("missing undefined");
    expect(readerLog).toContain(`bad-key object key "../escape" must not contain '..'`);

    // The same objects through the API.
    expect(await (await api("/pipelines/default/relay/objects/shared/note.txt")).text()).toBe(`from the writer of run ${run.id}`);
    const mine = await api(`/pipelines/default/relay/runs/${run.id}/objects/mine.bin`);
    expect(new Uint8Array(await mine.arrayBuffer())).toEqual(new Uint8Array([0, 1, 2, 250, 255]));

    // One token for the run, limited to objects of its pipeline, revoked when the run ended.
    const { tokens } = (await (await api("/tokens")).json()) as {
      tokens: { name: string; permissions?: unknown[]; revokedAt: string | null }[];
    };
    const runTokens = tokens.filter((token) => token.name.startsWith(`run default/relay#${run.id} `));
    expect(runTokens).toHaveLength(1);
    expect(runTokens[0]!.permissions).toEqual([{ resource: "objects", target: "default/relay", actions: ["read", "write"] }]);
    await waitFor(async () => {
      const listed = (await (await api("/tokens")).json()) as { tokens: { name: string; revokedAt: string | null }[] };
      return listed.tokens.find((token) => token.name === runTokens[0]!.name)?.revokedAt ?? undefined;
    });
  });

  it("keeps the token from children started with Bun.spawn (which get the task's variables), out of the runner's start-up environment and its memory, on any runner", async () => {
    const run = await waitForRun(api, "default/children", (await startRun(api, "default/children")).id);
    for (const task of ["warm", "own"]) {
      const log = await readLog(api, "default/children", run.id, task);
      expect(run.tasks.find((each) => each.id === task)?.state, log).toBe("successful");
      expect(log).toContain("children-have-token false,false");
      expect(log).toContain("children-have-task-variable true,true");
      expect(log).toContain("which-finds-tool true");
      expect(log).toContain("runner-start-env-readable true has-token false");
      // The runner is not dumpable: its children read their own /proc, not the runner's.
      expect(log).toContain("child-reads-runner-environ,runner-memory,own-environ EACCES,EACCES,read");
    }
    const own = await readLog(api, "default/children", run.id, "own-objects");
    expect(own).toContain("own-objects put by a runner of its own");
    // Its bundle is the stored one, not a copy in a warm runner's /tmp.
    expect(own).not.toMatch(/own-argv \/tmp\//);
  });

  it("lets a container task put and get objects with its injected API token", async () => {
    // The image is built locally by scripts/make-test-image.sh; tests never pull.
    await new Docker({ socketPath: "/var/run/docker.sock" }).getImage(IMAGE).inspect();
    const run = await waitForRun(api, "default/boxed", (await startRun(api, "default/boxed")).id, 40_000);
    const log = await readLog(api, "default/boxed", run.id, "box");
    expect(run.state, log).toBe("successful");
    expect(log).toContain("HTTP/1.1 201");
    expect(log).toContain("got: made in a container");
    expect(await (await api("/pipelines/default/boxed/objects/from-container.txt")).text()).toBe("made in a container");
  });
});

describe("object permissions", () => {
  async function tokenWith(role: string, permissions: unknown[]): Promise<string> {
    expect((await api(`/roles/${role}`, { method: "PUT", body: JSON.stringify({ permissions }) })).status).toBeOneOf([200, 201]);
    const response = await api("/tokens", { method: "POST", body: JSON.stringify({ name: `${role}-token`, roles: [role] }) });
    return ((await response.json()) as { secret: string }).secret;
  }
  const as = (secret: string, path: string, init: RequestInit = {}) =>
    fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${secret}`, ...(init.headers as Record<string, string>) } });

  it("answers 403 before anything else to a token without objects permission", async () => {
    const run = await waitForRun(api, "default/guarded", (await startRun(api, "default/guarded")).id);
    expect((await put("/pipelines/default/guarded/objects/secret.txt", "hidden")).status).toBe(201);
    const secret = await tokenWith("pipelines-only", [{ resource: "pipelines", target: ".*", actions: ["read", "write"] }]);
    for (const base of ["/pipelines/default/guarded", `/pipelines/default/guarded/runs/${run.id}`]) {
      const routes: [string, RequestInit, string][] = [
        [`${base}/objects`, {}, "read"],
        [`${base}/objects/secret.txt`, {}, "read"],
        [`${base}/objects/secret.txt`, { method: "PUT", body: "overwrite" }, "write"],
        [`${base}/objects/secret.txt`, { method: "DELETE" }, "write"],
        // Neither a bad key nor an oversize body tells it anything more.
        [`${base}/objects/..%2Fx`, { method: "PUT", body: "x" }, "write"],
        [`${base}/objects/big`, { method: "PUT", body: new Uint8Array(MAX_BYTES + 1) }, "write"],
      ];
      for (const [path, init, action] of routes) {
        await expectError(await as(secret, path, init), 403, "forbidden", new RegExp(`lacks permission objects:${action} on default/guarded`));
      }
    }
    expect(await (await api("/pipelines/default/guarded/objects/secret.txt")).text()).toBe("hidden");

    // Read alone reads, and cannot write.
    const reader = await tokenWith("objects-reader", [{ resource: "objects", target: "default/guarded", actions: ["read"] }]);
    expect(await (await as(reader, "/pipelines/default/guarded/objects/secret.txt")).text()).toBe("hidden");
    await expectError(await as(reader, "/pipelines/default/guarded/objects/secret.txt", { method: "PUT", body: "x" }), 403, "forbidden");
    // And only on the pipeline its target names.
    await expectError(await as(reader, "/pipelines/default/bytes/objects"), 403, "forbidden", /objects:read on default\/bytes/);
  });
});

describe("gantry object", () => {
  async function cli(args: string[], stdin?: Uint8Array): Promise<{ exitCode: number; stdout: Uint8Array; text: string; stderr: string }> {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...process.env, GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token })) {
      if (value !== undefined) env[name] = value;
    }
    const proc = Bun.spawn([process.execPath, "app/main.ts", "object", ...args], {
      cwd: REPO_ROOT,
      env,
      stdin: stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).arrayBuffer(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { exitCode, stdout: new Uint8Array(stdout), text: new TextDecoder().decode(stdout), stderr };
  }

  it("puts, gets, lists and removes objects, raw bytes from a file or stdin", async () => {
    const dir = tempDir("gantry-cli-objects-");
    const bytes = new Uint8Array(1000).map((_, i) => 255 - (i % 256));
    const file = join(dir, "in.bin");
    await Bun.write(file, bytes);

    const stored = await cli(["put", "default/cli", "dist/app.bin", file]);
    expect(stored.exitCode, stored.stderr).toBe(0);
    expect(stored.text).toContain(`stored object dist/app.bin (pipeline default/cli): 1000 B, sha256 ${sha256(bytes)}`);
    const fromStdin = await cli(["put", "cli", "notes.txt"], new TextEncoder().encode("piped in\n"));
    expect(fromStdin.exitCode, fromStdin.stderr).toBe(0);
    expect((await cli(["put", "cli", "notes.txt", file])).text).toContain("replaced object notes.txt");

    const got = await cli(["get", "default/cli", "dist/app.bin"]);
    expect(got.exitCode, got.stderr).toBe(0);
    expect(got.stdout).toEqual(bytes);
    const out = join(dir, "out.bin");
    const saved = await cli(["get", "default/cli", "dist/app.bin", "-o", out]);
    expect(saved.exitCode, saved.stderr).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(bytes);

    const listed = await cli(["ls", "default/cli"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.text).toMatch(/KEY\s+SIZE\s+SHA256\s+UPDATED/);
    expect(listed.text).toMatch(/dist\/app\.bin\s+1000 B\s+[0-9a-f]{12}/);
    const json = JSON.parse((await cli(["ls", "default/cli", "--json"])).text) as { objects: ObjectJson[] };
    expect(json.objects.map((object) => object.key)).toEqual(["dist/app.bin", "notes.txt"]);

    // Run scope with --run.
    const run = await waitForRun(api, "default/cli", (await startRun(api, "default/cli")).id);
    expect((await cli(["put", "default/cli", "run.txt", file, "--run", String(run.id)])).exitCode).toBe(0);
    expect((await cli(["ls", "default/cli", "--run", String(run.id)])).text).toContain("run.txt");
    expect((await cli(["get", "default/cli", "run.txt", "--run", String(run.id)])).stdout).toEqual(bytes);
    const noRun = await cli(["get", "default/cli", "run.txt", "--run", "999"]);
    expect(noRun.exitCode).toBe(2);
    expect(noRun.stderr).toContain("run 999 of default/cli not found");

    const removed = await cli(["rm", "default/cli", "dist/app.bin"]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.text).toContain("deleted object dist/app.bin (pipeline default/cli)");
    const gone = await cli(["get", "default/cli", "dist/app.bin"]);
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toContain("object dist/app.bin not found");
    expect(gone.stdout).toHaveLength(0);
  });

  it("refuses bad keys and arguments before asking the server", async () => {
    const bad = await cli(["put", "default/cli", "../up", "/dev/null"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`object key "../up" must not contain '..'`);
    const missing = await cli(["put", "default/cli", "x", "/no/such/file"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("/no/such/file: no such file");
    const noKey = await cli(["get", "default/cli"]);
    expect(noKey.exitCode).toBe(2);
    expect(noKey.stderr).toContain("missing <key>");
  });
});

/** Sends one raw HTTP request line (with a body) and returns the answer's status line. */
async function rawRequest(host: string, port: number, requestLine: string, body: string): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  let answer = "";
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data(_socket, data) {
        answer += new TextDecoder().decode(data);
      },
      close() {
        resolve(answer);
      },
      error() {
        resolve(answer);
      },
    },
  });
  socket.write(
    `${requestLine}\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${gantry.token}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
  return promise;
}
