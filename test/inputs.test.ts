// Typed run inputs through the API of a real server: the pipeline describes them as JSON
// Schema, a run keeps the checked values (defaults applied), tasks read them as ctx.inputs
// and INPUT_<NAME> (containers too), every problem is named by input, a schema with no form
// is a load error naming the input, re-runs keep them and webhook variables may set them.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { signBody } from "../app/domain/hmac-signature.ts";
import { readLog, startWithPipelines, waitFor, waitForPipeline, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { writeFile } from "./helpers/temp.ts";
import { join } from "node:path";

setDefaultTimeout(60_000);

const HEADER = `import * as v from "valibot";\nimport { definePipeline, run, container, secret, webhook } from "gantry";\n`;

const deploy = `${HEADER}
export default definePipeline({
  id: "deploy",
  inputs: {
    env: v.picklist(["staging", "production"]),
    replicas: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10)), 2),
    dryRun: v.boolean(),
    notes: v.optional(v.pipe(v.string(), v.maxLength(20), v.description("Why this deploy"))),
  },
  triggers: [webhook({ secret: secret("hook"), variables: { env: "target", REF: "ref" } })],
  tasks: ({ run }) => ({
    show: run((ctx) => {
      const replicas: number = ctx.inputs.replicas;
      ctx.log("inputs " + JSON.stringify(ctx.inputs) + " replicas+1=" + (replicas + 1));
      ctx.log("env " + ctx.env.INPUT_ENV + " " + ctx.env.INPUT_REPLICAS + " " + ctx.env.INPUT_DRYRUN + " notes=" + (ctx.env.INPUT_NOTES ?? "-") + " ref=" + (ctx.env.REF ?? "-"));
    }),
    box: container({ image: "local/busybox:latest", command: ["sh", "-c", "echo box $INPUT_ENV $INPUT_REPLICAS $INPUT_DRYRUN"] }),
  }),
});
`;

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);

const post = (path: string, body: unknown) => api(path, { method: "POST", body: JSON.stringify(body) });

beforeAll(async () => {
  gantry = await startWithPipelines({ "deploy.ts": deploy });
});

afterAll(async () => {
  await gantry?.stop();
});

describe("typed inputs", () => {
  it("are described as JSON Schema with the pipeline, in the file's order", async () => {
    const { pipeline } = (await (await api("/pipelines/default/deploy")).json()) as { pipeline: { inputs: Record<string, unknown> } };
    expect(pipeline.inputs).toEqual({
      type: "object",
      properties: {
        env: { type: "string", enum: ["staging", "production"] },
        replicas: { type: "integer", minimum: 1, maximum: 10, default: 2 },
        dryRun: { type: "boolean" },
        notes: { type: "string", maxLength: 20, description: "Why this deploy" },
      },
      required: ["env", "dryRun"],
      additionalProperties: false,
    });
    const document = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    // The pipeline answer is the Pipeline schema, which describes the inputs.
    expect(JSON.stringify(document.paths["/pipelines/{ns}/{id}"]!.get!.responses["200"]!.content)).toContain("#/components/schemas/Pipeline");
    expect(JSON.stringify(document.components.schemas.Pipeline!.properties!.inputs)).toContain("properties");
  });

  it("reach a run's tasks checked, with defaults applied, as ctx.inputs and INPUT_<NAME> (containers too)", async () => {
    const started = await post("/pipelines/default/deploy/runs", { inputs: { env: "production", dryRun: true } });
    expect(started.status).toBe(201);
    const { run } = (await started.json()) as { run: RunJson & { inputs: Record<string, unknown> } };
    expect(run.inputs).toEqual({ env: "production", replicas: 2, dryRun: true });
    const done = await waitForRun(api, "default/deploy", run.id);
    expect(done.state).toBe("successful");
    const log = await readLog(api, "default/deploy", run.id, "show");
    expect(log).toContain('inputs {"env":"production","replicas":2,"dryRun":true} replicas+1=3');
    expect(log).toContain("env production 2 true notes=- ref=-");
    expect(await readLog(api, "default/deploy", run.id, "box")).toContain("box production 2 true");

    // A re-run keeps them.
    const rerun = await post(`/pipelines/default/deploy/runs/${run.id}/rerun`, {});
    expect(rerun.status).toBe(201);
    const again = (await rerun.json()) as { run: { id: number; inputs: Record<string, unknown> } };
    expect(again.run.inputs).toEqual({ env: "production", replicas: 2, dryRun: true });
    await waitForRun(api, "default/deploy", again.run.id);
  });

  it("are refused with every problem named by input, and nothing is started", async () => {
    const before = ((await (await api("/pipelines/default/deploy/runs")).json()) as { runs: unknown[] }).runs.length;
    const refused = await post("/pipelines/default/deploy/runs", { inputs: { env: "moon", replicas: 0, notes: "x".repeat(25), colour: "red" } });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { code: string; message: string; problems: { input: string; message: string }[] } };
    expect(body.error.code).toBe("invalid");
    expect(body.error.problems).toEqual([
      { input: "colour", message: "is not an input of this pipeline (its inputs: env, replicas, dryRun, notes)" },
      { input: "env", message: 'must be one of "staging", "production"' },
      { input: "replicas", message: "must be at least 1" },
      { input: "dryRun", message: "is required" },
      { input: "notes", message: "must be at most 20 characters" },
    ]);
    expect(body.error.message).toContain("replicas: must be at least 1");
    // JSON values are typed: text is not a number.
    const text = await post("/pipelines/default/deploy/runs", { inputs: { env: "staging", dryRun: "yes", replicas: "3" } });
    expect(((await text.json()) as { error: { problems: { input: string; message: string }[] } }).error.problems).toEqual([
      { input: "replicas", message: "must be a whole number" },
      { input: "dryRun", message: "must be true or false" },
    ]);
    const after = ((await (await api("/pipelines/default/deploy/runs")).json()) as { runs: unknown[] }).runs.length;
    expect(after).toBe(before);
  });

  it("may be set by a webhook's variables, read as text by the input's schema", async () => {
    expect((await api("/pipelines/default/deploy/secrets/hook", { method: "PUT", body: JSON.stringify({ value: "a-webhook-secret-value" }) })).status).toBe(201);
    const hooks = gantry.hooksUrl;
    const send = (payload: unknown) => {
      const body = JSON.stringify(payload);
      return fetch(`${hooks}/hooks/webhook/default/deploy`, { method: "POST", body, headers: { "x-gantry-signature-256": signBody("a-webhook-secret-value", body), "content-type": "application/json" } });
    };
    // dryRun is required and no variable maps it: the delivery is refused, naming it.
    const missing = await send({ target: "staging", ref: "main" });
    expect(missing.status, await missing.clone().text()).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe("invalid inputs: dryRun: is required");
  });

  it("make a load error that names the input when a schema has no form", async () => {
    writeFile(
      join(gantry.pipelinesDir, "broken.ts"),
      `${HEADER}
export default definePipeline({
  id: "broken",
  inputs: { count: v.pipe(v.string(), v.transform((text) => text.length)), ok: v.string() },
  tasks: { a: run(() => {}) },
});
`,
    );
    const broken = await waitFor(async () => {
      const response = await api("/pipelines/default/broken");
      if (response.status !== 200) return undefined;
      const { pipeline } = (await response.json()) as { pipeline: { error?: { issues: { path: string; message: string }[] } } };
      return pipeline.error;
    }, 20_000);
    expect(broken.issues[0]!.path).toBe("inputs.count");
    expect(broken.issues[0]!.message).toContain('"transform"');
  });
});

describe("webhook deliveries", () => {
  it("set inputs from the variables mapped to them", async () => {
    writeFile(
      join(gantry.pipelinesDir, "hooked.ts"),
      `${HEADER}
export default definePipeline({
  id: "hooked",
  inputs: { env: v.picklist(["staging", "production"]), replicas: v.optional(v.number(), 1) },
  triggers: [webhook({ secret: secret("hook"), variables: { env: "target", replicas: "count", REF: "ref" } })],
  tasks: { show: run((ctx) => ctx.log("got " + JSON.stringify(ctx.inputs) + " ref " + ctx.env.REF)) },
});
`,
    );
    await waitForPipeline(api, "default/hooked");
    expect((await api("/secrets/hook", { method: "PUT", body: JSON.stringify({ value: "a-webhook-secret-value" }) })).status).toBe(201);
    const body = JSON.stringify({ target: "staging", count: 3, ref: "main" });
    const delivered = await fetch(`${gantry.hooksUrl}/hooks/webhook/default/hooked`, {
      method: "POST",
      body,
      headers: { "x-gantry-signature-256": signBody("a-webhook-secret-value", body), "content-type": "application/json" },
    });
    expect(delivered.status).toBe(202);
    const { run } = (await delivered.json()) as { run: { id: number } };
    const done = (await waitForRun(api, "default/hooked", run.id)) as RunJson & { inputs: Record<string, unknown> };
    expect(done.inputs).toEqual({ env: "staging", replicas: 3 });
    expect(await readLog(api, "default/hooked", run.id, "show")).toContain('got {"env":"staging","replicas":3} ref main');
  });
});
