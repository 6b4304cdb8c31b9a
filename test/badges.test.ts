// Badges (/badges/<ns>/<id>.svg) on a real server: a public pipeline's shows the state of its
// last finished run (of one branch with ?branch=) to anyone, with short caching and an ETag;
// a private pipeline's and a missing one's are the same 404; the pipeline page offers the
// Markdown for a README, and the API says which pipelines are public.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startRun, startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const HEADER = `import { definePipeline, run } from "gantry";\n`;
const TASK = `tasks: { a: run((ctx) => { if (ctx.env.FAIL === "1") throw new Error("asked to fail"); }) }`;

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  gantry = await startWithPipelines({
    "shown.ts": `${HEADER}export default definePipeline({ id: "shown", public: true, ${TASK} });\n`,
    "hidden.ts": `${HEADER}export default definePipeline({ id: "hidden", ${TASK} });\n`,
  });
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

/** The badge as anyone fetches it: no token, no cookie. */
const badge = (path: string, headers: Record<string, string> = {}) => fetch(`${gantry.url}/badges/${path}`, { headers });
const message = async (response: Response) => /aria-label="[^:]+: ([^"]+)"/.exec(await response.text())?.[1];

async function finish(pipeline: string, variables: Record<string, string> = {}) {
  return waitForRun(gantry.api, `default/${pipeline}`, (await startRun(gantry.api, `default/${pipeline}`, variables)).id);
}

describe("badges", () => {
  it("shows a public pipeline's last finished run to anyone, cached briefly", async () => {
    const none = await badge("default/shown.svg");
    expect(none.status).toBe(200);
    expect(none.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    expect(none.headers.get("cache-control")).toBe("public, max-age=60, s-maxage=60");
    expect(await message(none)).toBe("no runs");

    expect((await finish("shown")).state).toBe("successful");
    const passing = await badge("default/shown.svg");
    const svg = await passing.text();
    expect(svg).toStartWith('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toContain("<title>shown: passing</title>");
    expect(svg).toContain("#1f883d");
    // The same state again: a browser that has it is told so.
    const etag = passing.headers.get("etag")!;
    expect((await badge("default/shown.svg", { "if-none-match": etag })).status).toBe(304);

    expect((await finish("shown", { FAIL: "1" })).state).toBe("failed");
    const failing = await badge("default/shown.svg", { "if-none-match": etag });
    expect(failing.status).toBe(200);
    expect(await message(failing)).toBe("failing");
  });

  it("shows one branch's runs with ?branch=, as pushes and webhooks name them", async () => {
    await finish("shown", { REF: "refs/heads/main" });
    await finish("shown", { REF: "refs/heads/feature/x", FAIL: "1" });
    expect(await message(await badge("default/shown.svg?branch=main"))).toBe("passing");
    expect(await message(await badge("default/shown.svg?branch=feature/x"))).toBe("failing");
    expect(await message(await badge("default/shown.svg?branch=refs/heads/main"))).toBe("passing");
    expect(await message(await badge("default/shown.svg?branch=release"))).toBe("no runs");
    // A REF that names the branch alone counts too.
    await finish("shown", { REF: "release", FAIL: "1" });
    expect(await message(await badge("default/shown.svg?branch=release"))).toBe("failing");
    expect((await badge("default/shown.svg?branch=bad%20name")).status).toBe(400);
  });

  it("answers the same 404 for a pipeline that is not public and for one that does not exist", async () => {
    expect((await finish("hidden")).state).toBe("successful");
    const hidden = await badge("default/hidden.svg", { accept: "application/json" });
    const missing = await badge("default/missing.svg", { accept: "application/json" });
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    const text = async (response: Response) => ((await response.json()) as { error: { message: string } }).error.message;
    expect((await text(hidden)).replace("hidden", "X")).toBe((await text(missing)).replace("missing", "X"));
    expect(hidden.headers.get("content-type")).not.toContain("svg");
  });

  it("is offered on the public pipeline's page as Markdown, and the API says which are public", async () => {
    const page = await (await admin.get("/pipelines/default/shown")).text();
    expect(page).toContain('<img src="/badges/default/shown.svg"');
    expect(page).toContain(`[![shown](${gantry.url}/badges/default/shown.svg)](${gantry.url}/pipelines/default/shown)`);
    const hidden = await (await admin.get("/pipelines/default/hidden")).text();
    expect(hidden).not.toContain("/badges/");
    const listed = (await (await gantry.api("/pipelines")).json()) as { pipelines: { id: string; public?: boolean }[] };
    expect(Object.fromEntries(listed.pipelines.map((pipeline) => [pipeline.id, pipeline.public]))).toEqual({ shown: true, hidden: false });
  });
});
