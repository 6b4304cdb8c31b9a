// Approval gates through the API of a real server: a run waits (holding no task slot, but
// its concurrency group), and a person approves or rejects it — never the one who started
// it unless allowed, only with runs:approve and the gate's roles; timeouts decide, and
// autoApprove decides without anyone. Decisions are events.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readLog, startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { signInPerson } from "./helpers/people.ts";

setDefaultTimeout(30_000);

const HEADER = `import * as v from "valibot";\nimport { definePipeline, run, approval } from "gantry";\n`;

const files: Record<string, string> = {
  "release.ts": `${HEADER}
export default definePipeline({
  id: "release",
  variables: { TARGET: "prod-eu" },
  tasks: {
    build: run((ctx) => ctx.log("built")),
    ship: approval({ needs: { build: "success" }, message: "Ship run \${GANTRY_RUN_ID} to \${TARGET}?" }),
    deploy: run((ctx) => ctx.log("deployed"), { needs: { ship: "success" } }),
    rollback: run((ctx) => ctx.log("not shipped"), { needs: { ship: "failure" } }),
  },
});
`,
  "self.ts": `${HEADER}
export default definePipeline({ id: "self", tasks: { ok: approval({ allowSelfApproval: true }) } });
`,
  "roles.ts": `${HEADER}
export default definePipeline({ id: "roles", tasks: { ok: approval({ approvers: ["release-managers"] }) } });
`,
  "timeouts.ts": `${HEADER}
export default definePipeline({
  id: "timeouts",
  tasks: {
    no: approval({ timeout: "1s" }),
    yes: approval({ timeout: "1s", onTimeout: "approve" }),
  },
});
`,
  "auto.ts": `${HEADER}
export default definePipeline({
  id: "auto",
  inputs: { env: v.picklist(["staging", "production"]) },
  tasks: ({ run, approval }) => ({
    build: run((ctx) => ctx.log("built")),
    gate: approval({
      needs: { build: "success" },
      autoApprove: (ctx) => {
        ctx.log("build was", ctx.tasks.build?.state, "env", ctx.inputs.env);
        return ctx.inputs.env === "staging" && ctx.tasks.build?.state === "successful";
      },
    }),
  }),
});
`,
  "grouped.ts": `${HEADER}
export default definePipeline({
  id: "grouped",
  concurrency: { limit: 1 },
  tasks: { gate: approval({}), after: run((ctx) => ctx.log("after"), { needs: { gate: "success" } }) },
});
`,
  "busy.ts": `${HEADER}
export default definePipeline({ id: "busy", tasks: { work: run((ctx) => ctx.log("worked")) } });
`,
};

let gantry: TestGantry;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
let other: string;
let viewer: string;

const as = (secret: string, path: string, init: RequestInit = {}) =>
  fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", ...(init.headers as Record<string, string>) } });

async function token(name: string, roles: string[]): Promise<string> {
  const response = await api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

async function start(pipeline: string, body: Record<string, unknown> = {}, secret?: string): Promise<RunJson> {
  const init = { method: "POST", body: JSON.stringify(body) };
  const response = secret ? await as(secret, `/pipelines/default/${pipeline}/runs`, init) : await api(`/pipelines/default/${pipeline}/runs`, init);
  const answer = (await response.json()) as { run: RunJson };
  expect(response.status, JSON.stringify(answer)).toBe(201);
  return answer.run;
}

async function getRun(pipeline: string, id: number): Promise<RunJson> {
  return ((await (await api(`/pipelines/default/${pipeline}/runs/${id}`)).json()) as { run: RunJson }).run;
}

const taskOf = (run: RunJson, id: string) => run.tasks.find((task) => task.id === id)! as RunJson["tasks"][number] & { approval?: Record<string, unknown> };

async function waitForState(pipeline: string, id: number, task: string, state: string): Promise<RunJson> {
  return waitFor(async () => {
    const run = await getRun(pipeline, id);
    return taskOf(run, task).state === state ? run : undefined;
  }, 20_000);
}

const decide = (secret: string, pipeline: string, run: number, task: string, verb: "approve" | "reject", comment?: string) =>
  as(secret, `/pipelines/default/${pipeline}/runs/${run}/tasks/${task}/${verb}`, { method: "POST", body: JSON.stringify(comment === undefined ? {} : { comment }) });

beforeAll(async () => {
  gantry = await startWithPipelines(files, { env: { GANTRY_MAX_PARALLEL_TASKS: "1" } });
  other = await token("alice", ["admin"]);
  viewer = await token("victor", ["viewer"]);
});

afterAll(async () => {
  await gantry?.stop();
});

describe("an approval gate", () => {
  it("waits with its message filled in, and an approval by someone else lets the run go on", async () => {
    const run = await start("release");
    const waiting = await waitForState("release", run.id, "ship", "waiting");
    expect(waiting.state).toBe("running");
    expect(taskOf(waiting, "ship").approval).toMatchObject({ message: `Ship run ${run.id} to prod-eu?`, approvers: [], onTimeout: "reject" });
    const listed = (await (await as(other, "/approvals")).json()) as { approvals: { run: number; task: string; mayDecide: boolean; message: string }[] };
    expect(listed.approvals.find((gate) => gate.run === run.id && gate.task === "ship")).toMatchObject({ mayDecide: true, message: `Ship run ${run.id} to prod-eu?` });

    const approved = await decide(other, "release", run.id, "ship", "approve", "looks good");
    expect(approved.status).toBe(200);
    const done = await waitForRun(api, "default/release", run.id);
    expect(done.state).toBe("successful");
    expect(taskOf(done, "ship")).toMatchObject({ state: "successful", reason: "approved by alice: looks good" });
    expect(taskOf(done, "ship").approval).toMatchObject({ decision: { outcome: "approved", by: "alice", comment: "looks good" } });
    expect(taskOf(done, "deploy").state).toBe("successful");
    expect(taskOf(done, "rollback").state).toBe("skipped");
    // Each decision is an event: who, when, the comment.
    const events = (await (await api(`/events?after=0`)).json()) as { events: { kind: string; run: number | null; task: string | null; data: Record<string, unknown> }[] };
    const event = events.events.find((candidate) => candidate.kind === "approval.approved" && candidate.run === run.id);
    expect(event?.data).toMatchObject({ by: "alice", comment: "looks good" });
    expect(events.events.some((candidate) => candidate.kind === "task.waiting" && candidate.run === run.id)).toBe(true);
    // A second decision finds nothing to decide.
    const again = await decide(other, "release", run.id, "ship", "reject");
    expect(again.status).toBe(409);
  });

  it("ends failed when rejected, saying by whom and why, so failure branches run", async () => {
    const run = await start("release");
    await waitForState("release", run.id, "ship", "waiting");
    expect((await decide(other, "release", run.id, "ship", "reject", "not on a Friday")).status).toBe(200);
    const done = await waitForRun(api, "default/release", run.id);
    expect(done.state).toBe("failed");
    expect(taskOf(done, "ship")).toMatchObject({ state: "failed", reason: "rejected by alice: not on a Friday" });
    expect(taskOf(done, "rollback").state).toBe("successful");
    expect(taskOf(done, "deploy").state).toBe("skipped");
    expect(await readLog(api, "default/release", run.id, "ship")).toContain("rejected by alice: not on a Friday");
  });

  it("refuses the person who started the run, a viewer, and someone without the gate's role", async () => {
    const run = await start("release");
    await waitForState("release", run.id, "ship", "waiting");
    const self = await decide(gantry.token, "release", run.id, "ship", "approve");
    expect(self.status).toBe(403);
    expect(((await self.json()) as { error: { message: string } }).error.message).toContain("you started this run");
    const byViewer = await decide(viewer, "release", run.id, "ship", "approve");
    expect(byViewer.status).toBe(403);
    expect(((await byViewer.json()) as { error: { message: string } }).error.message).toContain("runs:approve");
    // The viewer sees the gate but may not decide it.
    const seen = (await (await as(viewer, "/approvals")).json()) as { approvals: { run: number; mayDecide: boolean; refusal?: string }[] };
    expect(seen.approvals.find((gate) => gate.run === run.id)).toMatchObject({ mayDecide: false });
    expect(taskOf(await getRun("release", run.id), "ship").state).toBe("waiting");

    // Self-approval where the gate allows it.
    const own = await start("self");
    await waitForState("self", own.id, "ok", "waiting");
    expect((await decide(gantry.token, "self", own.id, "ok", "approve")).status).toBe(200);
    expect((await waitForRun(api, "default/self", own.id)).state).toBe("successful");

    // A role gate: an admin without the role is refused; a holder with runs:approve decides.
    const gated = await start("roles");
    await waitForState("roles", gated.id, "ok", "waiting");
    const notHolder = await decide(other, "roles", gated.id, "ok", "approve");
    expect(notHolder.status).toBe(403);
    expect(((await notHolder.json()) as { error: { message: string } }).error.message).toContain("release-managers");
    const role = await api("/roles/release-managers", {
      method: "PUT",
      body: JSON.stringify({ permissions: [{ resource: "runs", target: "default/roles", actions: ["read", "approve"] }] }),
    });
    expect(role.status).toBeOneOf([200, 201]);
    const manager = await token("maria", ["release-managers"]);
    expect((await decide(manager, "roles", gated.id, "ok", "approve", "ok by me")).status).toBe(200);
    expect(taskOf(await waitForRun(api, "default/roles", gated.id), "ok").reason).toBe("approved by maria: ok by me");
    await as(other, `/pipelines/default/release/runs/${run.id}/cancel`, { method: "POST" });
  });

  it("is decided by its timeout: rejected by default, approved with onTimeout approve", async () => {
    const run = await start("timeouts");
    const done = await waitForRun(api, "default/timeouts", run.id, 20_000);
    expect(taskOf(done, "no")).toMatchObject({ state: "failed", reason: "rejected: nobody decided after 1s" });
    expect(taskOf(done, "yes")).toMatchObject({ state: "successful" });
    expect(taskOf(done, "yes").reason).toContain('onTimeout: "approve"');
    expect(taskOf(done, "no").approval).toMatchObject({ decision: { outcome: "rejected", by: "timeout", auto: "timeout" } });
  });

  it("is approved at once by autoApprove, which sees the inputs and earlier tasks; false leaves it to a person", async () => {
    const staging = await start("auto", { inputs: { env: "staging" } });
    const done = await waitForRun(api, "default/auto", staging.id);
    expect(done.state).toBe("successful");
    expect(taskOf(done, "gate")).toMatchObject({ state: "successful", reason: "approved by autoApprove: autoApprove returned true" });
    expect(await readLog(api, "default/auto", staging.id, "gate")).toContain("build was successful env staging");

    const production = await start("auto", { inputs: { env: "production" } });
    const waiting = await waitForState("auto", production.id, "gate", "waiting");
    expect(taskOf(waiting, "gate").approval).toMatchObject({ autoApproveNote: "autoApprove returned false" });
    expect((await decide(other, "auto", production.id, "gate", "approve")).status).toBe(200);
    expect((await waitForRun(api, "default/auto", production.id)).state).toBe("successful");
  });

  it("holds no task slot while it waits, but its run keeps its concurrency group; a cancel ends it", async () => {
    // One task slot on this server: a waiting gate must not take it.
    const first = await start("grouped");
    await waitForState("grouped", first.id, "gate", "waiting");
    const busy = await start("busy");
    expect((await waitForRun(api, "default/busy", busy.id)).state).toBe("successful");
    // The group's limit counts the waiting run as running.
    const second = await start("grouped");
    await Bun.sleep(300);
    expect((await getRun("grouped", second.id)).state).toBe("queued");
    const cancelled = await api(`/pipelines/default/grouped/runs/${first.id}/cancel`, { method: "POST" });
    expect(cancelled.status).toBe(202);
    const ended = await waitForRun(api, "default/grouped", first.id);
    expect(ended.state).toBe("cancelled");
    expect(taskOf(ended, "gate").state).toBe("cancelled");
    // The next one in the group now waits at its own gate.
    await waitForState("grouped", second.id, "gate", "waiting");
    await api(`/pipelines/default/grouped/runs/${second.id}/cancel`, { method: "POST" });
  });

  it("answers 404 for an unknown task and 409 for a task that is no gate", async () => {
    const run = await start("busy");
    await waitForRun(api, "default/busy", run.id);
    expect((await decide(other, "busy", run.id, "nope", "approve")).status).toBe(404);
    expect((await decide(other, "busy", run.id, "work", "approve")).status).toBe(409);
  });
});

describe("people and approvals", () => {
  it("names people by who they are, refuses a person's own run whichever token they use, and a re-run asks again", async () => {
    const pam = await signInPerson(gantry, "pam", { name: "Pam", groups: [], mappedRoles: ["admin"] });
    // A personal token Pam named after someone else.
    const made = await pam.web.post("/tokens", { name: "alice", roles: "admin", expires: "30" });
    const html = await made.text();
    expect(made.status, html.slice(0, 300)).toBe(201);
    const disguised = /value="(gty_[^"]+)"/.exec(html)![1]!;
    const run = await start("release", {}, disguised);
    expect((run as RunJson & { startedBy?: string }).startedBy).toBe("Pam");
    await waitForState("release", run.id, "ship", "waiting");
    // Her web session is another token of the same person: still her own run.
    const page = await pam.web.get(`/pipelines/default/release/runs/${run.id}`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
    const own = await pam.web.post(`/pipelines/default/release/runs/${run.id}/tasks/ship/approve`, { ...(csrf && { _csrf: csrf }), comment: "mine" });
    expect(own.status).toBe(403);
    expect(await own.text()).toContain("you started this run");
    // Someone else decides; the record names Pam's run as hers and alice's decision as alice's.
    expect((await decide(other, "release", run.id, "ship", "reject", "no")).status).toBe(200);
    await waitForRun(api, "default/release", run.id);
    // Re-running what failed asks again at the gate (never reused), and the re-runner may not approve it.
    const rerun = await as(other, `/pipelines/default/release/runs/${run.id}/rerun`, { method: "POST", body: JSON.stringify({ only: "failed" }) });
    expect(rerun.status).toBe(201);
    const again = ((await rerun.json()) as { run: RunJson }).run;
    expect(taskOf(again, "build").state).toBe("reused");
    await waitForState("release", again.id, "ship", "waiting");
    expect((await decide(other, "release", again.id, "ship", "approve")).status).toBe(403);
    expect((await decide(disguised, "release", again.id, "ship", "approve", "fine")).status).toBe(200);
    expect(taskOf(await waitForRun(api, "default/release", again.id), "ship").reason).toBe("approved by Pam: fine");
  });
});
