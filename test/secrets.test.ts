// The secret store end to end: real AES-GCM encryption, a real server and database, tasks
// that resolve and print secrets (Bun processes and a container), the key's life cycle
// (mismatch, bad value, rotation, restart) and `gantry secret` as a user runs it.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decryptSecret, encryptSecret, importKey, SecretKeyError } from "../app/stores/secret-key.ts";
import {
  readLog,
  readSse,
  startGantryProcess,
  startRun,
  startTestGantry,
  waitForRun,
  type RunJson,
  type TestGantry,
} from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";
import { runCli } from "./helpers/cli.ts";

setDefaultTimeout(60_000);

type Api = (path: string, init?: RequestInit) => Promise<Response>;

const unique = crypto.randomUUID().replace(/-/g, "").slice(0, 12);

// The values the masking tests hide, each made to exercise one form of masking.
const PLAIN = `plain-Secret-Value-${unique}`;
const MULTI = `-----BEGIN TEST KEY-----\nfirst-line-${unique}\nsecond-line-${unique}\n-----END TEST KEY-----`;
const SPECIAL = `we"ird\\val/ue with space&more=${unique}`;

/** A task that prints the SHA-256 of its TOKEN: proves which value it got without printing it. */
const probeTask = (name: string) => `
  run((ctx) => ctx.log(\`sha=\${new Bun.CryptoHasher("sha256").update(ctx.env.TOKEN ?? "").digest("hex")}\`),
      { env: { TOKEN: secret(${JSON.stringify(name)}) } })`;

const probePipeline = (id: string, secretName: string) => `
  import { definePipeline, run, secret } from "gantry";
  export default definePipeline({ id: ${JSON.stringify(id)}, tasks: { show: ${probeTask(secretName)} } });`;

const PIPELINES: Record<string, string> = {
  "probe.ts": probePipeline("probe", "shared"),
  "other.ts": probePipeline("other", "shared"),
  "clicheck.ts": probePipeline("clicheck", "cli_value"),
  "copied.ts": probePipeline("copied", "copy_src"),
  "renamed.ts": probePipeline("renamed", "copy_renamed"),
  "missing.ts": `
    import { definePipeline, run, secret } from "gantry";
    export default definePipeline({
      id: "missing",
      tasks: { use: run((ctx) => ctx.log("task-body-ran"), { env: { TOKEN: secret("does-not-exist") } }) },
    });`,
  "leaky.ts": `
    import { definePipeline, run, secret } from "gantry";
    const env = { PLAIN: secret("plain"), MULTI: secret("multi"), SPECIAL: secret("special") };
    export default definePipeline({
      id: "leaky",
      tasks: {
        forms: run((ctx) => {
          const { PLAIN, MULTI, SPECIAL } = ctx.env;
          console.log(\`plain=\${PLAIN}\`);
          console.log(MULTI);
          console.log(\`b64=\${Buffer.from(PLAIN).toString("base64")}\`);
          console.log(\`b64url=\${Buffer.from(PLAIN).toString("base64url")}\`);
          console.log(\`multi64=\${Buffer.from(MULTI).toString("base64")}\`);
          // The secret inside a larger encoded blob, at each of the three byte alignments.
          for (const prefix of ["", "a", "ab", "abc-", "{\\"token\\":\\""]) {
            console.log(\`blob=\${Buffer.from(prefix + PLAIN + "-and-the-rest-of-the-blob").toString("base64")}\`);
          }
          console.log(\`json=\${JSON.stringify({ special: SPECIAL, multi: MULTI })}\`);
          console.log(\`url=https://example.invalid/?q=\${encodeURIComponent(SPECIAL)}\`);
          console.log(\`form=\${new URLSearchParams({ q: SPECIAL })}\`);
          console.error(\`stderr=\${PLAIN}\`);
          ctx.log(\`ctx=\${PLAIN}\`);
        }, { env }),
        split: run(async () => {
          const { PLAIN } = process.env as Record<string, string>;
          const half = Math.floor(PLAIN.length / 2);
          process.stdout.write(\`split=\${PLAIN.slice(0, half)}\`);
          await Bun.sleep(400);
          process.stdout.write(\`\${PLAIN.slice(half)} end\\n\`);
        }, { env }),
        throws: run((ctx) => {
          throw new Error(\`cannot log in with \${ctx.env.PLAIN} (\${Buffer.from(ctx.env.PLAIN).toString("base64")})\`);
        }, { env }),
      },
    });`,
  "boxed.ts": `
    import { definePipeline, container, secret } from "gantry";
    export default definePipeline({
      id: "boxed",
      tasks: {
        echo: container({
          image: "local/busybox:latest",
          pull: "never",
          network: "none",
          command: ["sh", "-c", 'echo "c=$TOKEN"; echo "e=$TOKEN" >&2; echo "$MULTI"'],
          env: { TOKEN: secret("plain"), MULTI: secret("multi") },
        }),
      },
    });`,
};

const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

/** The id the server derives from a key: hex of the first 6 bytes of its SHA-256. */
const keyIdOf = (base64Key: string) => new Bun.CryptoHasher("sha256").update(Buffer.from(base64Key, "base64")).digest("hex").slice(0, 12);

const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");

/**
 * The base64 characters that depend on nothing but the value's bytes, when the value starts
 * at byte `offset` of a larger blob: what would betray the value inside any encoded blob.
 */
function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value);
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset, 0x41), bytes]).toString("base64");
    const core = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    cores.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return cores;
}

/** Every form in which a value must never show: itself, its lines, base64, JSON and URL escapes. */
function forbiddenForms(value: string): Record<string, string> {
  const forms: Record<string, string> = { value };
  value.split("\n").forEach((line, index) => {
    if (line.trim().length >= 4) forms[`line ${index + 1}`] = line.trim();
  });
  base64Cores(value).forEach((core, index) => (forms[`base64 form ${index}`] = core));
  forms.json = JSON.stringify(value).slice(1, -1);
  forms.url = encodeURIComponent(value);
  forms["url (form)"] = new URLSearchParams({ q: value }).toString().slice(2);
  return forms;
}

/** Which forms of which values a text contains; [] when it leaks nothing. */
function leaks(text: string, values: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    for (const [form, pattern] of Object.entries(forbiddenForms(value))) {
      if (text.includes(pattern)) found.push(`${name}: ${form}`);
    }
  }
  return found;
}

/** Runs a pipeline to its end and returns the run with the log of one task. */
async function runToEnd(api: Api, pipeline: string, task: string): Promise<{ run: RunJson; log: string }> {
  const started = await startRun(api, `default/${pipeline}`);
  const run = await waitForRun(api, `default/${pipeline}`, started.id, 30_000);
  return { run, log: await readLog(api, `default/${pipeline}`, run.id, task) };
}

/** The SHA-256 a probe task printed. */
async function probedSha(api: Api, pipeline: string): Promise<string> {
  const { run, log } = await runToEnd(api, pipeline, "show");
  expect(run.state).toBe("successful");
  const match = /sha=([0-9a-f]{64})/.exec(log);
  if (!match) throw new Error(`no sha in the log of ${pipeline}: ${log}`);
  return match[1]!;
}

const put = (api: Api, path: string, value: unknown) => api(path, { method: "PUT", body: JSON.stringify({ value }) });

async function putOk(api: Api, path: string, value: string): Promise<void> {
  const response = await put(api, path, value);
  if (response.status !== 200 && response.status !== 201) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
}

/** A fetch-based API client for a server run as a child process. */
const clientOf = (server: { url: string; token: string }): Api => (path, init = {}) =>
  fetch(`${server.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
  });

/** Every file under a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function pipelinesDirWith(files: Record<string, string>): string {
  const dir = tempDir("gantry-secret-pipelines-");
  for (const [file, source] of Object.entries(files)) writeFile(join(dir, file), source);
  return dir;
}

let gantry: TestGantry;

beforeAll(async () => {
  gantry = await startTestGantry({ pipelinesDir: pipelinesDirWith(PIPELINES) });
});

afterAll(async () => {
  await gantry?.stop();
});

describe("secret encryption", () => {
  it("round-trips a value and never produces the same ciphertext twice", async () => {
    const key = await importKey(crypto.getRandomValues(new Uint8Array(32)), "env");
    const value = `round-trip-${unique}\nwith ünïcödé and "quotes"`;
    const first = await encryptSecret(key, "global", "db_password", value);
    const second = await encryptSecret(key, "global", "db_password", value);
    expect(first).not.toBe(second);
    expect(first).not.toContain(value);
    expect(Buffer.from(first, "base64").toString("latin1")).not.toContain(`round-trip-${unique}`);
    expect(await decryptSecret(key, "global", "db_password", first)).toBe(value);
    expect(await decryptSecret(key, "global", "db_password", second)).toBe(value);
  });

  it("refuses to decrypt with another key", async () => {
    const key = await importKey(crypto.getRandomValues(new Uint8Array(32)), "env");
    const other = await importKey(crypto.getRandomValues(new Uint8Array(32)), "env");
    expect(other.id).not.toBe(key.id);
    const sealed = await encryptSecret(key, "global", "api_key", "some-value");
    await expect(decryptSecret(other, "global", "api_key", sealed)).rejects.toBeInstanceOf(SecretKeyError);
  });

  it("binds a ciphertext to its scope and name (AES-GCM additional data)", async () => {
    const key = await importKey(crypto.getRandomValues(new Uint8Array(32)), "env");
    const sealed = await encryptSecret(key, "global", "api_key", "some-value");
    await expect(decryptSecret(key, "global", "other_key", sealed)).rejects.toBeInstanceOf(SecretKeyError);
    await expect(decryptSecret(key, "default/deploy", "api_key", sealed)).rejects.toBeInstanceOf(SecretKeyError);
    // A flipped bit anywhere is caught by the tag, never decrypted into garbage.
    const tampered = Buffer.from(sealed, "base64");
    tampered[tampered.length - 1]! ^= 1;
    await expect(decryptSecret(key, "global", "api_key", tampered.toString("base64"))).rejects.toBeInstanceOf(SecretKeyError);
  });

  it("fails a task whose stored ciphertext was copied to another scope or name", async () => {
    await putOk(gantry.api, "/secrets/copy_src", `copied-value-${unique}`);
    const { client } = gantry.deps.database;
    // What an attacker with write access to the database (but not the key) could try.
    await client.execute({
      sql: "INSERT INTO secrets (scope, name, ciphertext, key_id, created_at, updated_at) SELECT ?, name, ciphertext, key_id, created_at, updated_at FROM secrets WHERE scope = 'global' AND name = 'copy_src'",
      args: ["default/copied"],
    });
    await client.execute(
      "INSERT INTO secrets (scope, name, ciphertext, key_id, created_at, updated_at) SELECT scope, 'copy_renamed', ciphertext, key_id, created_at, updated_at FROM secrets WHERE scope = 'global' AND name = 'copy_src'",
    );
    for (const [pipeline, name] of [["copied", "copy_src"], ["renamed", "copy_renamed"]] as const) {
      const { run, log } = await runToEnd(gantry.api, pipeline, "show");
      const task = run.tasks.find((candidate) => candidate.id === "show")!;
      expect(task.state).toBe("failed");
      expect(task.reason).toContain(`secret "${name}"`);
      expect(task.reason).toContain("cannot be decrypted");
      expect(log).not.toContain("sha=");
    }

    // Rotation cannot re-encrypt what it cannot read: it says which secret, and changes nothing.
    const keyFile = join(gantry.dataDir, "secret-key");
    const keyBefore = readFileSync(keyFile, "utf8");
    const refused = await gantry.api("/secrets/rotate-key", { method: "POST" });
    expect(refused.status).toBe(409);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("conflict");
    expect(error.message).toMatch(/secret "copy_(src|renamed)"/);
    expect(readFileSync(keyFile, "utf8")).toBe(keyBefore);

    // Deleting needs no decryption, so the bad copies can be cleaned up.
    expect((await gantry.api("/pipelines/default/copied/secrets/copy_src", { method: "DELETE" })).status).toBe(200);
    expect((await gantry.api("/secrets/copy_renamed", { method: "DELETE" })).status).toBe(200);
    expect(await probedSha(gantry.api, "copied")).toBe(sha256(`copied-value-${unique}`));
  });
});

describe("secrets at rest", () => {
  it("never writes a value in plain text to the database, its WAL or anywhere in the data dir", async () => {
    const value = `at-rest-${unique}-value`;
    await putOk(gantry.api, "/secrets/at_rest", value);
    await putOk(gantry.api, "/pipelines/default/probe/secrets/at_rest", `${value}-pipeline`);
    const database = join(gantry.dataDir, "gantry.db");
    const files = [database, `${database}-wal`].filter((file) => existsSync(file));
    expect(files.length).toBeGreaterThan(0);
    const stored = Buffer.concat(files.map((file) => readFileSync(file)));
    // The row is there (its name is plain text), its value is not.
    expect(stored.includes("at_rest")).toBe(true);
    expect(stored.includes(value)).toBe(false);
    for (const file of filesUnder(gantry.dataDir)) {
      const bytes = readFileSync(file);
      for (const secret of [value, PLAIN, `first-line-${unique}`, SPECIAL]) {
        if (bytes.includes(secret)) throw new Error(`${file} contains a secret value in plain text`);
      }
    }
  });

  it("generates the key file with mode 0600 when GANTRY_SECRET_KEY is not set", () => {
    const file = join(gantry.dataDir, "secret-key");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, "utf8").trim(), "base64").length).toBe(32);
  });
});

describe("the secret key at start", () => {
  it("refuses to start with another key than the secrets were encrypted with, and loses nothing", async () => {
    const dataDir = tempDir("gantry-secret-data-");
    const pipelinesDir = pipelinesDirWith({ "probe.ts": probePipeline("probe", "shared") });
    const rightKey = randomKey();
    const wrongKey = randomKey();
    const value = `survives-${unique}`;

    const first = await startGantryProcess({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: rightKey } });
    try {
      await putOk(clientOf(first), "/pipelines/default/probe/secrets/shared", value);
    } finally {
      await first.stop();
    }

    let failure = "";
    await startGantryProcess({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: wrongKey } }).then(
      async (server) => {
        await server.stop();
        throw new Error("the server started with the wrong key");
      },
      (error: Error) => (failure = error.message),
    );
    expect(failure).toContain("exited early (2)");
    expect(failure).toContain("secret key error");
    expect(failure).toContain(keyIdOf(wrongKey));
    expect(failure).toContain(keyIdOf(rightKey));
    expect(failure).toContain("GANTRY_SECRET_KEY");
    expect(failure).not.toContain(wrongKey);

    const again = await startGantryProcess({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: rightKey } });
    try {
      const api = clientOf(again);
      const list = (await (await api("/pipelines/default/probe/secrets")).json()) as { secrets: { name: string }[] };
      expect(list.secrets.map((secret) => secret.name)).toEqual(["shared"]);
      expect(await probedSha(api, "probe")).toBe(sha256(value));
    } finally {
      await again.stop();
    }
  });

  it("explains a GANTRY_SECRET_KEY that is not 32 bytes, without echoing it", async () => {
    const badKey = Buffer.from("only-sixteen-byt").toString("base64");
    let failure = "";
    await startGantryProcess({ env: { GANTRY_SECRET_KEY: badKey } }).then(
      async (server) => {
        await server.stop();
        throw new Error("the server started with a 16-byte key");
      },
      (error: Error) => (failure = error.message),
    );
    expect(failure).toContain("exited early (2)");
    expect(failure).toContain("GANTRY_SECRET_KEY");
    expect(failure).toContain("32 bytes");
    expect(failure).not.toContain(badKey);
  });

  it("accepts the key as 64 hex characters as well as base64", async () => {
    const key = randomKey();
    const dataDir = tempDir("gantry-secret-data-");
    const pipelinesDir = pipelinesDirWith({ "probe.ts": probePipeline("probe", "shared") });
    const asBase64 = await startTestGantry({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: key } });
    try {
      await putOk(asBase64.api, "/secrets/shared", `hex-or-base64-${unique}`);
    } finally {
      await asBase64.stop();
    }
    const asHex = await startTestGantry({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: Buffer.from(key, "base64").toString("hex") } });
    try {
      expect(await probedSha(asHex.api, "probe")).toBe(sha256(`hex-or-base64-${unique}`));
    } finally {
      await asHex.stop();
    }
  });
});

describe("the secrets API", () => {
  const V1 = `api-first-${unique}`;
  const V2 = `api-second-${unique}`;
  const V3 = `api-pipeline-${unique}`;
  const bodies: string[] = [];
  /** Every answer is kept, to search them all for the values at the end. */
  const call = async (path: string, init: RequestInit = {}) => {
    const response = await gantry.api(path, init);
    const text = await response.text();
    bodies.push(text);
    return { status: response.status, text, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
  const putValue = (path: string, value: unknown) => call(path, { method: "PUT", body: JSON.stringify({ value }) });

  it("creates, updates, shows and lists a global secret, with metadata only", async () => {
    const created = await putValue("/secrets/api_global", V1);
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatchObject({ name: "api_global", scope: "global" });
    expect(Object.keys(created.body.secret).sort()).toEqual(["createdAt", "name", "scope", "updatedAt"]);

    await Bun.sleep(5);
    const updated = await putValue("/secrets/api_global", V2);
    expect(updated.status).toBe(200);
    expect(updated.body.secret.createdAt).toBe(created.body.secret.createdAt);
    expect(Date.parse(updated.body.secret.updatedAt)).toBeGreaterThan(Date.parse(created.body.secret.updatedAt));

    const shown = await call("/secrets/api_global");
    expect(shown.status).toBe(200);
    expect(Object.keys(shown.body.secret).sort()).toEqual(["createdAt", "name", "scope", "updatedAt"]);

    const list = await call("/secrets");
    expect(list.status).toBe(200);
    expect(list.body.secrets.map((secret: { name: string }) => secret.name)).toContain("api_global");
    expect(list.body.secrets.every((secret: { scope: string }) => secret.scope === "global")).toBe(true);
  });

  it("keeps a pipeline's secrets in its own scope", async () => {
    const created = await putValue("/pipelines/default/probe/secrets/api_pipeline", V3);
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatchObject({ name: "api_pipeline", scope: "default/probe" });
    expect((await call("/pipelines/default/probe/secrets/api_pipeline")).status).toBe(200);
    const own = await call("/pipelines/default/probe/secrets");
    expect(own.body.secrets.map((secret: { name: string }) => secret.name)).toContain("api_pipeline");
    expect(own.body.secrets.every((secret: { scope: string }) => secret.scope === "default/probe")).toBe(true);
    const others = await call("/pipelines/default/other/secrets");
    expect(others.body.secrets.map((secret: { name: string }) => secret.name)).not.toContain("api_pipeline");
    const global = await call("/secrets");
    expect(global.body.secrets.map((secret: { name: string }) => secret.name)).not.toContain("api_pipeline");
    expect((await call("/secrets/api_pipeline")).status).toBe(404);

    const deleted = await call("/pipelines/default/probe/secrets/api_pipeline", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: "api_pipeline" });
    expect((await call("/pipelines/default/probe/secrets/api_pipeline")).status).toBe(404);
  });

  it("refuses values under 4 characters, non-string values and bad names with 400", async () => {
    const short = await putValue("/secrets/too_short", "abc");
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe("invalid");
    expect(short.body.error.message).toContain("too short");
    expect((await call("/secrets/too_short")).status).toBe(404);
    expect((await putValue("/pipelines/default/probe/secrets/too_short", "abc")).status).toBe(400);

    const number = await putValue("/secrets/a_number", 12345678);
    expect(number.status).toBe(400);
    expect(number.text).not.toContain("12345678");
    expect((await call("/secrets/no_body", { method: "PUT", body: "{}" })).status).toBe(400);
    expect((await putValue("/secrets/bad%20name", "long-enough")).status).toBe(400);
    expect((await putValue(`/secrets/${"n".repeat(129)}`, "long-enough")).status).toBe(400);
  });

  it("answers 404 for an unknown pipeline and a missing secret", async () => {
    for (const response of [
      await putValue("/pipelines/default/no-such-pipeline/secrets/x_name", V1),
      await call("/pipelines/default/no-such-pipeline/secrets/x_name"),
      await call("/pipelines/default/no-such-pipeline/secrets"),
      await call("/pipelines/default/no-such-pipeline/secrets/x_name", { method: "DELETE" }),
    ]) {
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe("not_found");
    }
    expect((await call("/secrets/never_set")).status).toBe(404);
    expect((await call("/secrets/never_set", { method: "DELETE" })).status).toBe(404);
    expect((await call("/pipelines/default/probe/secrets/never_set")).status).toBe(404);
  });

  it("deletes a global secret", async () => {
    const deleted = await call("/secrets/api_global", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: "api_global" });
    expect((await call("/secrets/api_global")).status).toBe(404);
    expect((await call("/secrets/api_global", { method: "DELETE" })).status).toBe(404);
  });

  it("needs a token", async () => {
    const response = await fetch(`${gantry.url}/api/v1/secrets`);
    expect(response.status).toBe(401);
  });

  it("never answered with a value", () => {
    expect(bodies.length).toBeGreaterThan(20);
    expect(leaks(bodies.join("\n"), { V1, V2, V3 })).toEqual([]);
  });
});

describe("secret resolution", () => {
  it("prefers the pipeline's secret over the global one, and falls back to the global one", async () => {
    const globalValue = `global-shared-${unique}`;
    const pipelineValue = `pipeline-shared-${unique}`;
    await putOk(gantry.api, "/secrets/shared", globalValue);
    await putOk(gantry.api, "/pipelines/default/probe/secrets/shared", pipelineValue);
    expect(await probedSha(gantry.api, "probe")).toBe(sha256(pipelineValue));
    expect(await probedSha(gantry.api, "other")).toBe(sha256(globalValue));
    expect((await gantry.api("/pipelines/default/probe/secrets/shared", { method: "DELETE" })).status).toBe(200);
    expect(await probedSha(gantry.api, "probe")).toBe(sha256(globalValue));
  });

  it("fails a task whose secret does not exist before it starts, naming the secret", async () => {
    const { run, log } = await runToEnd(gantry.api, "missing", "use");
    expect(run.state).toBe("failed");
    const task = run.tasks.find((candidate) => candidate.id === "use")!;
    expect(task.state).toBe("failed");
    expect(task.exitCode).toBeNull();
    expect(task.reason).toContain('secret "does-not-exist"');
    expect(log).toContain('secret "does-not-exist"');
    expect(log).not.toContain("task-body-ran");
  });
});

describe("masking secrets in task output", () => {
  const values = { PLAIN, MULTI, SPECIAL };

  beforeAll(async () => {
    await putOk(gantry.api, "/secrets/plain", PLAIN);
    await putOk(gantry.api, "/secrets/multi", MULTI);
    await putOk(gantry.api, "/secrets/special", SPECIAL);
  });

  /** Follows a task's log over SSE to its end and returns everything streamed. */
  async function follow(run: number, task: string): Promise<string> {
    const response = await gantry.api(`/pipelines/default/leaky/runs/${run}/tasks/${task}/logs?follow=1`);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    let text = "";
    for await (const message of readSse(response)) {
      text += `${message.event}: ${message.data}\n`;
      if (message.event === "end") break;
    }
    return text;
  }

  it("hides every form of a secret in logs, the live stream, failure reasons and events", async () => {
    const started = await startRun(gantry.api, "default/leaky");
    // Followed from the start, so the stream sees output as it is written.
    const followed = Promise.all(["forms", "split", "throws"].map((task) => follow(started.id, task)));
    const run = await waitForRun(gantry.api, "default/leaky", started.id, 30_000);
    const streams = await followed;

    const forms = await readLog(gantry.api, "default/leaky", run.id, "forms");
    const split = await readLog(gantry.api, "default/leaky", run.id, "split");
    const throws = await readLog(gantry.api, "default/leaky", run.id, "throws");
    // The tasks did print, and what they printed was masked (not dropped).
    for (const line of ["plain=***", "b64=***", "b64url=***", "[err] stderr=***", "ctx=***"]) expect(forms).toContain(line);
    // Each line of the multi-line value was printed on a line of its own, and hidden.
    expect(forms.match(/^\S+ \*\*\*$/gm)?.length).toBe(4);
    expect(forms.match(/blob=\S*\*\*\*/g)?.length).toBe(5);
    expect(forms).toMatch(/json=\{"special":"\*\*\*","multi":"\*\*\*"\}/);
    expect(forms).toContain("url=https://example.invalid/?q=***");
    expect(forms).toContain("form=q=***");
    expect(split).toContain("split=*** end");
    const task = (id: string) => run.tasks.find((candidate) => candidate.id === id)!;
    expect(task("forms").state).toBe("successful");
    expect(task("split").state).toBe("successful");
    expect(task("throws").state).toBe("failed");
    expect(task("throws").reason).toContain("cannot log in with ***");

    const runJson = await (await gantry.api(`/pipelines/default/leaky/runs/${run.id}`)).text();
    const events = await (await gantry.api("/events?limit=1000")).text();
    expect(events).toContain("cannot log in with ***");
    const checked = { forms, split, throws, "followed forms": streams[0]!, "followed split": streams[1]!, "followed throws": streams[2]!, runJson, events };
    for (const [where, text] of Object.entries(checked)) {
      expect({ where, leaks: leaks(text, values) }).toEqual({ where, leaks: [] });
    }
    expect(streams[1]).toContain("split=*** end");
  });

  it("hides a secret echoed by a container task", async () => {
    const { run, log } = await runToEnd(gantry.api, "boxed", "echo");
    expect({ state: run.tasks[0]!.state, reason: run.tasks[0]!.reason, log }).toMatchObject({ state: "successful" });
    expect(log).toContain("c=***");
    expect(log).toContain("[err] e=***");
    expect(log).toContain("***");
    expect(leaks(log, values)).toEqual([]);
  });
});

describe("key rotation", () => {
  it("re-encrypts every secret under a new key file, and a restarted server still reads them", async () => {
    const dataDir = tempDir("gantry-secret-data-");
    const pipelinesDir = pipelinesDirWith({ "probe.ts": probePipeline("probe", "shared"), "other.ts": probePipeline("other", "shared") });
    const globalValue = `rotate-global-${unique}`;
    const pipelineValue = `rotate-pipeline-${unique}`;
    const keyFile = join(dataDir, "secret-key");
    const first = await startTestGantry({ dataDir, pipelinesDir });
    let keyBefore: string;
    try {
      await putOk(first.api, "/secrets/shared", globalValue);
      await putOk(first.api, "/pipelines/default/probe/secrets/shared", pipelineValue);
      keyBefore = readFileSync(keyFile, "utf8").trim();

      const response = await first.api("/secrets/rotate-key", { method: "POST" });
      expect(response.status).toBe(200);
      const text = await response.text();
      const body = JSON.parse(text) as { keyId: string; reencrypted: number; newKey?: string };
      expect(body.reencrypted).toBe(2);
      expect(body.keyId).not.toBe(keyIdOf(keyBefore));
      // A key file is rewritten by the server itself: no key travels over HTTP.
      expect(body.newKey).toBeUndefined();
      const keyAfter = readFileSync(keyFile, "utf8").trim();
      expect(keyAfter).not.toBe(keyBefore);
      expect(text).not.toContain(keyAfter);
      expect(body.keyId).toBe(keyIdOf(keyAfter));
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dataDir, "secret-key.previous"))).toBe(false);

      expect(await probedSha(first.api, "probe")).toBe(sha256(pipelineValue));
      expect(await probedSha(first.api, "other")).toBe(sha256(globalValue));
    } finally {
      await first.stop();
    }

    const second = await startTestGantry({ dataDir, pipelinesDir });
    try {
      expect(await probedSha(second.api, "probe")).toBe(sha256(pipelineValue));
      expect(await probedSha(second.api, "other")).toBe(sha256(globalValue));
    } finally {
      await second.stop();
    }
  });
});

describe("gantry secret", () => {
  /** Runs `gantry <args>` from source, with `stdin` piped in (or nothing). */
  const cli = (args: string[], options: { stdin?: string; server?: { url: string; token: string } } = {}) =>
    runCli(args, { server: options.server ?? gantry, env: { NO_COLOR: "1" }, ...(options.stdin !== undefined && { stdin: options.stdin }) });

  it("is in the help, with its own usage", async () => {
    const help = await cli(["--help"]);
    for (const command of ["secret set", "secret ls", "secret rm", "secret rotate-key"]) expect(help.stdout).toContain(`gantry ${command}`);
    const usage = await cli(["secret", "--help"]);
    expect(usage.exitCode).toBe(0);
    expect(usage.stdout).toContain("gantry secret set <name> [--pipeline <ns/id>]");
    const unknown = await cli(["secret", "show", "x_name"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "secret show"');
  });

  it("sets a secret from stdin, stripping one trailing newline, and reports created or updated", async () => {
    const created = await cli(["secret", "set", "cli_value"], { stdin: `cli-value-${unique}\n` });
    expect(created).toMatchObject({ exitCode: 0, stdout: "created secret cli_value (global)\n" });
    expect(await probedSha(gantry.api, "clicheck")).toBe(sha256(`cli-value-${unique}`));

    // Only one newline goes: a value may itself end with one.
    const multiLine = `line-one-${unique}\nline-two-${unique}\n`;
    const updated = await cli(["secrets", "set", "cli_value"], { stdin: `${multiLine}\n` });
    expect(updated).toMatchObject({ exitCode: 0, stdout: "updated secret cli_value (global)\n" });
    // A value masking may miss parts of is stored, with a warning saying so.
    expect(updated.stderr).toContain("warning:");
    expect(updated.stderr).toContain("spans 2 lines");
    expect(await probedSha(gantry.api, "clicheck")).toBe(sha256(multiLine));

    const pipeline = await cli(["secret", "set", "cli_value", "--pipeline", "default/clicheck"], { stdin: `pipeline-level-${unique}\r\n` });
    expect(pipeline).toMatchObject({ exitCode: 0, stdout: "created secret cli_value (pipeline default/clicheck)\n" });
    expect(await probedSha(gantry.api, "clicheck")).toBe(sha256(`pipeline-level-${unique}`));
    for (const result of [created, updated, pipeline]) expect(result.stdout + result.stderr).not.toContain(unique);
  });

  it("lists secrets as a table and as JSON, without values", async () => {
    const table = await cli(["secret", "ls"]);
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+SCOPE\s+CREATED\s+UPDATED\s+WARNING$/);
    expect(lines.some((line) => /^cli_value\s+global\s+\d{4}-.*spans 2 lines/.test(line))).toBe(true);

    const json = await cli(["secret", "ls", "--json"]);
    expect(json.exitCode).toBe(0);
    const body = JSON.parse(json.stdout) as { secrets: { name: string; scope: string; createdAt: string; updatedAt: string }[] };
    const entry = body.secrets.find((secret) => secret.name === "cli_value");
    expect(entry).toMatchObject({ scope: "global" });
    // The last test set it to two lines: metadata carries a masking warning, never the value.
    expect(Object.keys(entry!).sort()).toEqual(["createdAt", "name", "scope", "updatedAt", "warning"]);
    expect((entry as { warning?: string }).warning).toContain("spans 2 lines");

    const scoped = await cli(["secret", "list", "--pipeline", "default/clicheck", "--json"]);
    expect(scoped.exitCode).toBe(0);
    expect((JSON.parse(scoped.stdout) as { secrets: { name: string; scope: string }[] }).secrets).toEqual([
      expect.objectContaining({ name: "cli_value", scope: "default/clicheck" }),
    ]);
    for (const result of [table, json, scoped]) expect(result.stdout).not.toContain(unique);
  });

  it("removes a secret, and says so when it does not exist", async () => {
    const removed = await cli(["secret", "rm", "cli_value", "--pipeline", "default/clicheck"]);
    expect(removed).toMatchObject({ exitCode: 0, stdout: "deleted secret cli_value (pipeline default/clicheck)\n" });
    // The global one is used again.
    expect(await probedSha(gantry.api, "clicheck")).toBe(sha256(`line-one-${unique}\nline-two-${unique}\n`));
    const again = await cli(["secret", "rm", "cli_value", "--pipeline", "default/clicheck"]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain("not found");
  });

  it("refuses a value on the command line and says why", async () => {
    const value = `argv-value-${unique}`;
    for (const args of [
      ["secret", "set", "argv_secret", "--value", value],
      ["secret", "set", "argv_secret", `--value=${value}`],
      ["secret", "set", "argv_secret", value],
    ]) {
      const result = await cli(args, { stdin: `${value}\n` });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("never taken from the command line");
      expect(result.stderr).toContain("stdin");
      expect(result.stderr).not.toContain(value);
    }
    expect((await gantry.api("/secrets/argv_secret")).status).toBe(404);
  });

  it("exits 2 on empty stdin, a short value, a bad name and an unknown pipeline", async () => {
    const empty = await cli(["secret", "set", "empty_one"], { stdin: "" });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain("no value on stdin");
    const short = await cli(["secret", "set", "short_one"], { stdin: "abc\n" });
    expect(short.exitCode).toBe(2);
    expect(short.stderr).toContain("too short");
    const badName = await cli(["secret", "set", "bad name"], { stdin: "long-enough\n" });
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toContain("not a secret name");
    const unknown = await cli(["secret", "set", "x_name", "--pipeline", "default/nope"], { stdin: "long-enough\n" });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("pipeline default/nope not found");
  });

  // util-linux's script gives the CLI a real terminal; without it the test cannot run.
  it.skipIf(!Bun.which("script"))("asks twice at a terminal without echoing what is typed", async () => {
    const value = `typed-${unique}`;
    const ask = async (answers: string[]) => {
      const command = `${process.execPath} app/main.ts secret set typed_secret; echo "exit=$?"`;
      const env: Record<string, string> = {};
      for (const [name, text] of Object.entries({ ...process.env, GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token, NO_COLOR: "1" })) {
        if (text !== undefined) env[name] = text;
      }
      const proc = Bun.spawn(["script", "-qec", command, "/dev/null"], { cwd: REPO_ROOT, env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      let output = "";
      const reading = (async () => {
        for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) output += new TextDecoder().decode(chunk);
      })();
      // Typed only once a question shows, so the terminal is in raw mode (no echo) by then.
      for (const [index, answer] of answers.entries()) {
        const question = index === 0 ? "value of secret typed_secret:" : "again, to confirm:";
        const deadline = Date.now() + 15_000;
        while (!output.includes(question) && Date.now() < deadline) await Bun.sleep(20);
        proc.stdin.write(`${answer}\r`);
        await proc.stdin.flush();
      }
      const deadline = Date.now() + 15_000;
      while (!output.includes("exit=") && Date.now() < deadline) await Bun.sleep(20);
      proc.stdin.end();
      await proc.exited;
      await reading;
      return output;
    };
    const mismatch = await ask([value, `${value}-typo`]);
    expect(mismatch).toContain("the two values differ");
    expect(mismatch).toContain("exit=2");
    expect(mismatch).not.toContain(value);
    expect((await gantry.api("/secrets/typed_secret")).status).toBe(404);

    const matched = await ask([value, value]);
    expect(matched).toContain("created secret typed_secret (global)");
    expect(matched).toContain("exit=0");
    expect(matched).not.toContain(value);
    expect((await gantry.api("/secrets/typed_secret")).status).toBe(200);
  });

  it("rotates the key: nothing to copy when the server keeps a key file", async () => {
    const result = await cli(["secret", "rotate-key"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/re-encrypted \d+ secrets under a new key \(id [0-9a-f]{12}\)/);
    expect(result.stdout).not.toContain("GANTRY_SECRET_KEY");
    expect(result.stdout).toContain("key file");
    expect(await probedSha(gantry.api, "clicheck")).toBe(sha256(`line-one-${unique}\nline-two-${unique}\n`));
  });

  it("rotates a key from GANTRY_SECRET_KEY: prints the new key once, which the next start needs", async () => {
    const dataDir = tempDir("gantry-secret-data-");
    const pipelinesDir = pipelinesDirWith({ "probe.ts": probePipeline("probe", "shared") });
    const oldKey = randomKey();
    const value = `env-rotated-${unique}`;
    const server = await startTestGantry({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: oldKey } });
    let newKey: string;
    try {
      await putOk(server.api, "/secrets/shared", value);
      const result = await cli(["secret", "rotate-key"], { server });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("re-encrypted 1 secret under a new key");
      expect(result.stdout).toContain("GANTRY_SECRET_KEY");
      newKey = /^\s+([A-Za-z0-9+/]{43}=)$/m.exec(result.stdout)?.[1] ?? "";
      expect(Buffer.from(newKey, "base64").length).toBe(32);
      expect(result.stdout).toContain(keyIdOf(newKey));
      expect(existsSync(join(dataDir, "secret-key"))).toBe(false);
      expect(await probedSha(server.api, "probe")).toBe(sha256(value));
    } finally {
      await server.stop();
    }
    await expect(startTestGantry({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: oldKey } })).rejects.toBeInstanceOf(SecretKeyError);
    const restarted = await startTestGantry({ dataDir, pipelinesDir, env: { GANTRY_SECRET_KEY: newKey } });
    try {
      expect(await probedSha(restarted.api, "probe")).toBe(sha256(value));
    } finally {
      await restarted.stop();
    }
  });
});
