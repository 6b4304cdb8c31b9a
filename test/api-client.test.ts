// "gantry/client", the typed client: its types are those of the document the server makes
// (checked here to be up to date), and it drives a real server: typed answers, the API's
// errors as GantryApiError, GET /health without a token.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { answerOf, createClient, GantryApiError, type GantryClient } from "gantry/client";
import { API_TYPES_FILE, currentApiTypes } from "../scripts/api-types.ts";
import { startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";

setDefaultTimeout(30_000);

let gantry: TestGantry;
let client: GantryClient;

beforeAll(async () => {
  gantry = await startWithPipelines({
    "hello.ts": `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "hello", tasks: { greet: run((ctx) => ctx.log("hi " + ctx.env.WHO)) } });\n`,
  });
  client = createClient({ url: gantry.url, token: gantry.token });
});
afterAll(() => gantry?.stop());

describe("gantry/client", () => {
  it("has the types of the document the server makes now (npm run api:types writes them)", async () => {
    expect(readFileSync(API_TYPES_FILE, "utf8")).toBe(await currentApiTypes());
  });

  it("starts a run and reads it back, typed", async () => {
    const { pipelines } = answerOf(await client.GET("/pipelines"));
    expect(pipelines.map((pipeline) => `${pipeline.namespace}/${pipeline.id}`)).toContain("default/hello");
    const started = answerOf(await client.POST("/pipelines/{ns}/{id}/runs", { params: { path: { ns: "default", id: "hello" } }, body: { variables: { WHO: "client" } } }));
    expect(started.run.state).toBeOneOf(["queued", "running"]);
    await waitForRun(gantry.api, "default/hello", started.run.id);
    const { run } = answerOf(await client.GET("/pipelines/{ns}/{id}/runs/{run}", { params: { path: { ns: "default", id: "hello", run: String(started.run.id) } } }));
    expect(run.state).toBe("successful");
    expect(run.variables.WHO).toBe("client");
    expect(run.tasks.map((task) => task.id)).toEqual(["greet"]);
  });

  it("answers the API's errors as GantryApiError with their status and code", async () => {
    const missing = await client.GET("/pipelines/{ns}/{id}", { params: { path: { ns: "default", id: "nope" } } });
    expect(missing.error?.error.code).toBe("not_found");
    expect(() => answerOf(missing)).toThrow(GantryApiError);
    try {
      answerOf(missing);
    } catch (error) {
      expect(error).toMatchObject({ status: 404, code: "not_found", message: "pipeline default/nope not found" });
    }
    const anonymous = createClient({ url: `${gantry.url}/api/v1/` });
    expect(answerOf(await anonymous.GET("/health")).status).toBe("ok");
    const refused = await anonymous.GET("/pipelines");
    expect(refused.response.status).toBe(401);
    expect(refused.error?.error.code).toBe("unauthorized");
  });
});
