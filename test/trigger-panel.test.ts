// The pipeline page tells how to trigger the pipeline, and what it says works: the webhook's
// curl example, run as shown (with the secret's value filled in), starts a run with the
// variables it maps; the GitHub App's URL, a schedule's next ticks in its time zone and the
// CLI command are there too.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startWithPipelines, waitForRun, type TestGantry } from "./helpers/gantry.ts";
import { webLogin, type WebClient } from "./helpers/web.ts";

setDefaultTimeout(30_000);

const PIPELINE = `import { cron, definePipeline, github, run, secret, webhook } from "gantry";
export default definePipeline({
  id: "hooked",
  triggers: [
    webhook({ secret: secret("hook"), variables: { REF: "ref", WHO: "pusher.name" } }),
    github({ repo: "acme/api", events: ["push"], branches: ["main"] }),
    cron("0 3 * * *", { timezone: "Europe/Paris" }),
  ],
  tasks: { a: run((ctx) => ctx.log("by " + ctx.env.WHO)) },
});
`;
const SECRET = "it's a hook secret";

let gantry: TestGantry;
let admin: WebClient;

beforeAll(async () => {
  gantry = await startWithPipelines({ "hooked.ts": PIPELINE });
  expect((await gantry.api("/pipelines/default/hooked/secrets/hook", { method: "PUT", body: JSON.stringify({ value: SECRET }) })).status).toBe(201);
  admin = await webLogin(gantry.url, gantry.token);
});
afterAll(() => gantry?.stop());

const unescape = (html: string) => html.replaceAll("&#39;", "'").replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
const codeOf = (html: string, name: string) => [...html.matchAll(new RegExp(`<code class="${name}">([\\s\\S]*?)</code>`, "g"))].map((match) => unescape(match[1]!));

describe("the pipeline page's triggers", () => {
  it("shows a webhook's URL and a signed curl command that, run as shown, starts a run", async () => {
    const html = await (await admin.get("/pipelines/default/hooked")).text();
    const [url, githubUrl] = codeOf(html, "trigger-url");
    expect(url).toBe(`${gantry.hooksUrl}/hooks/webhook/default/hooked`);
    expect(githubUrl).toBe(`${gantry.hooksUrl}/hooks/github`);
    const [curl] = codeOf(html, "trigger-curl");
    expect(curl).toStartWith("SECRET='<the value of secret hook>'\n");
    // The one thing a person fills in: the secret's value (quoted as the shell wants it).
    const script = curl!.replace(/^SECRET='.*'$/m, `SECRET='${SECRET.replaceAll("'", "'\\''")}'`);
    const shell = Bun.spawn(["bash", "-c", script], { stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([shell.exited, new Response(shell.stdout).text(), new Response(shell.stderr).text()]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const answer = JSON.parse(out) as { run: { id: number; duplicate: boolean } };
    expect(answer.run.duplicate).toBe(false);
    const run = await waitForRun(gantry.api, "default/hooked", answer.run.id);
    expect(run.state).toBe("successful");
    expect(run.variables).toMatchObject({ REF: "example-ref", WHO: "example-who" });
  });

  it("shows the GitHub events and branches, a schedule's next ticks in its time zone, and the CLI command", async () => {
    const html = await (await admin.get("/pipelines/default/hooked")).text();
    expect(html).toContain("push of acme/api, on main.");
    const ticks = [...html.matchAll(/<ul class="ticks">([\s\S]*?)<\/ul>/g)][0]![1]!.match(/<li>[^<]+<\/li>/g)!;
    expect(ticks).toHaveLength(3);
    for (const tick of ticks) expect(tick).toMatch(/03:00:00 (CET|CEST)/);
    expect(codeOf(html, "trigger-cli")).toEqual(["gantry run start default/hooked"]);
  });
});
