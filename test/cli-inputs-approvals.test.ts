// The CLI of typed run inputs and approval gates against a real server: `-i name=value`
// converted by the pipeline's schemas, missing inputs refused off a terminal (and asked for
// on one, through a real pseudo-terminal), gates shown while they wait and decided with
// `gantry run approve|reject`, and refusals (a viewer, the starter's own run) as exit 2.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { ApiError } from "../app/cli/api-client.ts";
import { cliEnv, runCli, startedRun, cliInBackground as background } from "./helpers/cli.ts";
import { startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const PIPELINES: Record<string, string> = {
  "deploy.ts": `
    import { definePipeline } from "gantry";
    import * as v from "valibot";
    export default definePipeline({
      id: "deploy",
      inputs: {
        env: v.pipe(v.picklist(["staging", "production"]), v.description("Where to deploy")),
        replicas: v.optional(v.pipe(v.number(), v.minValue(1)), 2),
        dryRun: v.boolean(),
      },
      tasks: ({ run }) => ({
        show: run((ctx) => ctx.log("deploying " + ctx.inputs.env + " x" + ctx.inputs.replicas)),
      }),
    });`,
  "release.ts": `
    import { definePipeline, approval, run } from "gantry";
    export default definePipeline({
      id: "release",
      tasks: {
        gate: approval({ message: "ship?" }),
        after: run((ctx) => ctx.log("after"), { needs: { gate: "success" } }),
      },
    });`,
};

let gantry: TestGantry;
/** A second admin token: it starts the gated runs, since nobody may approve their own run. */
let starter: string;
let viewer: string;

/** Runs `gantry <args>` from source against the test server, with the bootstrap token unless `env` says otherwise. */
const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(args, { server: gantry, env });

async function createToken(name: string, roles: string[]): Promise<string> {
  const response = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name, roles }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

async function runJson(pipeline: string, run: number): Promise<RunJson & { inputs: Record<string, unknown> }> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs/${run}`);
  return ((await response.json()) as { run: RunJson & { inputs: Record<string, unknown> } }).run;
}

async function runCount(pipeline: string): Promise<number> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs`);
  return ((await response.json()) as { runs: unknown[] }).runs.length;
}

/** Starts `gantry <args>` against the test server in the background. */
const cliInBackground = (args: string[], env: Record<string, string>) => background(args, { server: gantry, env });

/** `gantry <args>` on a pseudo-terminal (Bun's built-in PTY): stdin and stdout are a terminal, as at a person's shell. */
function cliAtTerminal(args: string[]) {
  let screen = "";
  const decoder = new TextDecoder();
  const proc = Bun.spawn([process.execPath, "app/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(gantry, { NO_COLOR: "1" }),
    terminal: { cols: 120, rows: 40, data: (_terminal, data) => void (screen += decoder.decode(data)) },
  });
  let read = 0;
  return {
    screen: () => screen,
    /** Waits until the output after the last answer matches, then types `answer` and Enter. */
    async answer(prompt: RegExp, answer: string) {
      try {
        await waitFor(() => prompt.test(screen.slice(read)), 15_000, `${prompt} on the terminal`);
      } catch (error) {
        throw new Error(`${(error as Error).message}; it shows:\n${JSON.stringify(screen)}`);
      }
      read = screen.length;
      proc.terminal!.write(`${answer}\r`);
    },
    async exited(): Promise<number> {
      const code = await proc.exited;
      proc.terminal!.close();
      return code;
    },
  };
}

/** Starts a gated release run with the starter token and waits until its gate waits. */
async function waitingRelease(): Promise<number> {
  const started = await cli(["run", "start", "release"], { GANTRY_TOKEN: starter });
  expect(started.exitCode).toBe(0);
  const id = startedRun(started.stdout);
  await waitFor(async () => (await runJson("default/release", id)).tasks.find((task) => task.id === "gate")?.state === "waiting", 15_000, "the gate to wait");
  return id;
}

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
  starter = await createToken("releaser", ["admin"]);
  viewer = await createToken("watcher", ["viewer"]);
});

afterAll(async () => {
  await gantry.stop();
});

describe("gantry run start -i", () => {
  it("converts -i values by the pipeline's schemas: the run keeps the number 3 and the boolean true", async () => {
    const result = await cli(["run", "start", "deploy", "-i", "env=production", "-i", "replicas=3", "-i", "dryRun=yes", "--wait"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const id = startedRun(result.stdout);
    expect((await runJson("default/deploy", id)).inputs).toEqual({ env: "production", replicas: 3, dryRun: true });

    const shown = await cli(["run", "get", "deploy", String(id)]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/inputs\s+env=production replicas=3 dryRun=true\n/);
  });

  it("applies a default the command line leaves out", async () => {
    const result = await cli(["run", "start", "deploy", "-i", "env=staging", "-i", "dryRun=false"]);
    expect(result.exitCode).toBe(0);
    expect((await runJson("default/deploy", startedRun(result.stdout))).inputs).toEqual({ env: "staging", replicas: 2, dryRun: false });
  });

  it("off a terminal, refuses missing required inputs with exit 2, listing every problem by input, and starts nothing", async () => {
    const before = await runCount("default/deploy");
    const result = await cli(["run", "start", "deploy", "-i", "replicas=0"]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("gantry: default/deploy cannot start with these inputs:\n");
    expect(result.stderr).toContain("\n  env: is required (one of staging, production)\n");
    expect(result.stderr).toContain("\n  replicas: must be at least 1\n");
    expect(result.stderr).toContain("\n  dryRun: is required (true or false)\n");
    expect(result.stderr).toContain("give inputs with -i NAME=VALUE, or run at a terminal");
    expect(await runCount("default/deploy")).toBe(before);
  });

  it("names the input of an invalid or unknown -i with exit 2", async () => {
    const before = await runCount("default/deploy");
    const wrong = await cli(["run", "start", "deploy", "-i", "env=prod", "-i", "dryRun=true"]);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain(`  env: must be one of "staging", "production"`);

    const unknown = await cli(["run", "start", "deploy", "-i", "env=staging", "-i", "dryRun=maybe", "-i", "colour=red"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("  colour: is not an input of this pipeline (its inputs: env, replicas, dryRun)");
    expect(unknown.stderr).toContain("  dryRun: must be true or false");

    const malformed = await cli(["run", "start", "deploy", "-i", "env"]);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toContain(`-i expects KEY=VALUE, got "env"`);
    expect(await runCount("default/deploy")).toBe(before);
  });

  it("at a terminal, asks for each missing required input: a picklist by number, a boolean as y/n, a wrong answer again", async () => {
    const terminal = cliAtTerminal(["run", "start", "deploy"]);
    // readline moves the cursor after a prompt, so a prompt is matched by its text, not the end of the screen.
    await terminal.answer(/env \(1-2\): /, "3");
    await terminal.answer(/env must be one of "staging", "production" \(or its number, 1-2\)[\s\S]*env \(1-2\): /, "2");
    await terminal.answer(/dryRun \(y\/n\): /, "maybe");
    await terminal.answer(/dryRun must be true or false \(y or n\)[\s\S]*dryRun \(y\/n\): /, "y");
    expect(await terminal.exited()).toBe(0);
    const screen = terminal.screen();
    expect(screen).toContain("default/deploy needs 2 inputs:");
    expect(screen).toContain("env: Where to deploy");
    expect(screen).toContain("1) staging  2) production");
    expect((await runJson("default/deploy", startedRun(screen))).inputs).toEqual({ env: "production", replicas: 2, dryRun: true });
  });

  it("shows a pipeline's inputs with their rules", async () => {
    const result = await cli(["pipeline", "get", "deploy"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/env\s+one of staging, production\s+required\s+Where to deploy/);
    expect(result.stdout).toMatch(/replicas\s+a number, at least 1\s+default 2/);
    expect(result.stdout).toMatch(/dryRun\s+true or false\s+required/);
  });
});

describe("the API's input problems", () => {
  // The CLI checks -i by the same schemas first, so a real server seldom gets to refuse them
  // (a pipeline changed between the two requests): the error it would print, from its answer.
  it("are printed one per line instead of the server's one-line list", () => {
    const problems = [
      { input: "env", message: "is required" },
      { input: "replicas", message: "must be at least 1" },
    ];
    const error = new ApiError(400, "invalid", "invalid inputs: env: is required; replicas: must be at least 1", problems);
    expect(error.message).toBe("invalid inputs:\n  env: is required\n  replicas: must be at least 1");
    expect(new ApiError(400, "invalid", "bad inputs.", problems.slice(0, 1)).message).toBe("bad inputs:\n  env: is required");
  });
});

describe("gantry run approve|reject", () => {
  it("follows a run through its waiting gate with --wait, shows it in run get and approvals, and approve lets it go on", async () => {
    const followed = cliInBackground(["run", "start", "release", "--wait"], { GANTRY_TOKEN: starter });
    await waitFor(() => followed.stdout().includes("waiting for approval: ship?"), 15_000, "the gate in the progress");
    const id = startedRun(followed.stdout());
    expect(followed.stdout()).toContain(`decide: gantry run approve|reject default/release ${id} gate [-m comment]`);

    const shown = await cli(["run", "get", "release", String(id)]);
    expect(shown.stdout).toMatch(/approval\s+gate: waiting for approval: ship\?/);
    expect(shown.stdout).toMatch(/gate\s+approval\s+⧗ waiting/);
    const listed = await cli(["run", "ls", "release"]);
    expect(listed.stdout).toMatch(new RegExp(`#${id}\\s+● running.*waiting for approval: gate`));

    const waiting = await cli(["run", "approvals"]);
    expect(waiting.exitCode).toBe(0);
    expect(waiting.stdout).toMatch(new RegExp(`default/release #${id}\\s+gate\\s+ship\\?.*✓ may decide`));
    const theirs = await cli(["run", "approvals"], { GANTRY_TOKEN: starter });
    expect(theirs.stdout).toMatch(new RegExp(`default/release #${id}\\s+gate.*✗ `));
    const json = JSON.parse((await cli(["run", "approvals", "--json"])).stdout) as { approvals: { run: number; mayDecide: boolean }[] };
    expect(json.approvals.find((gate) => gate.run === id)?.mayDecide).toBe(true);

    const approved = await cli(["run", "approve", "release", String(id), "gate", "-m", "looks good"]);
    expect(approved.stderr).toBe("");
    expect(approved.exitCode).toBe(0);
    expect(approved.stdout).toContain(`approved gate of default/release run ${id}`);

    const done = await followed.done;
    expect(done.exitCode).toBe(0);
    expect(done.stdout).toMatch(/✓ after\s+successful/);
    const run = await waitForRun(gantry.api, "default/release", id);
    expect(run.state).toBe("successful");
    expect(run.tasks.find((task) => task.id === "gate")).toMatchObject({ state: "successful", reason: "approved by bootstrap: looks good" });

    // Decided once is decided: a second decision is the server's conflict, exit 2.
    const again = await cli(["run", "reject", "release", String(id), "gate"]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain("already approved by bootstrap");
  });

  it("on a terminal, --wait shows the gate waiting in its live block and ends when the run does", async () => {
    const terminal = cliAtTerminal(["run", "start", "release", "--wait"]);
    try {
      await waitFor(() => /gate\s+waiting\s+\S+\s+for approval: ship\?/.test(terminal.screen()), 15_000, "the waiting gate in the live block");
    } catch (error) {
      throw new Error(`${(error as Error).message}; it shows:\n${JSON.stringify(terminal.screen())}`);
    }
    const id = startedRun(terminal.screen());
    // Started with the bootstrap token, so the second admin decides.
    expect((await cli(["run", "approve", "release", String(id), "gate"], { GANTRY_TOKEN: starter })).exitCode).toBe(0);
    expect(await terminal.exited()).toBe(0);
    expect(terminal.screen()).toContain(`run default/release #${id} successful`);
  });

  it("reject fails the gate with who and why, and the run fails", async () => {
    const id = await waitingRelease();
    const rejected = await cli(["run", "reject", "release", String(id), "gate", "-m", "not today"]);
    expect(rejected.exitCode).toBe(0);
    expect(rejected.stdout).toContain(`rejected gate of default/release run ${id}`);
    const run = await waitForRun(gantry.api, "default/release", id);
    expect(run.state).toBe("failed");
    expect(run.tasks.find((task) => task.id === "gate")).toMatchObject({ state: "failed", reason: "rejected by bootstrap: not today" });
    expect(run.tasks.find((task) => task.id === "after")?.state).toBe("skipped");
  });

  it("refuses a viewer and the starter of the run with exit 2 and the server's reason; the gate keeps waiting", async () => {
    const id = await waitingRelease();
    const byViewer = await cli(["run", "approve", "release", String(id), "gate"], { GANTRY_TOKEN: viewer });
    expect(byViewer.exitCode).toBe(2);
    expect(byViewer.stderr).toContain("runs:approve");
    expect(byViewer.stdout).toBe("");

    const bySelf = await cli(["run", "approve", "release", String(id), "gate"], { GANTRY_TOKEN: starter });
    expect(bySelf.exitCode).toBe(2);
    expect(bySelf.stderr).toContain("self-approval");

    const unknown = await cli(["run", "approve", "release", String(id), "nope"]);
    expect(unknown.exitCode).toBe(2);

    expect((await runJson("default/release", id)).tasks.find((task) => task.id === "gate")?.state).toBe("waiting");
    expect((await cli(["run", "cancel", "release", String(id)])).exitCode).toBe(0);
    expect((await waitForRun(gantry.api, "default/release", id)).state).toBe("cancelled");
  });
});

describe("gantry dev with inputs and gates", () => {
  it("takes -i, decides gates by --approve or --reject, rejects them off a terminal without a flag, and refuses bad inputs with exit 2", async () => {
    const file = `${REPO_ROOT}/pipelines/examples/promote.ts`;
    const approved = await runCli(["dev", file, "-i", "env=production", "-i", "replicas=2", "--approve"]);
    expect(approved.exitCode).toBe(0);
    expect(approved.stdout).toContain("waiting for approval: Deploy 2 replicas to production (run 1)?");
    expect(approved.stdout).toContain("approved by you: gantry dev --approve");
    expect(approved.stdout).toContain("rolling replica 2/2 in production");

    const unanswered = await runCli(["dev", file, "-i", "env=production"]);
    expect(unanswered.exitCode).toBe(1);
    expect(unanswered.stdout).toContain("not on a terminal: rejected (run with --approve or --reject to choose)");
    expect(unanswered.stdout).toContain("the deploy was rejected; nothing changed");

    // autoApprove says yes to staging: no decision needed.
    const staging = await runCli(["dev", file, "-i", "env=staging", "--reject"]);
    expect(staging.exitCode).toBe(0);
    expect(staging.stdout).toContain("approved by autoApprove");

    const invalid = await runCli(["dev", file, "-i", "replicas=0"]);
    expect(invalid.exitCode).toBe(2);
    expect(invalid.stderr).toContain("env: is required");
    expect(invalid.stderr).toContain("replicas: must be at least 1");
  });
});
