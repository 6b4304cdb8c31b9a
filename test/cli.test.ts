// The `gantry` CLI against a real server: each command runs as a subprocess, the way a
// user or a CI script runs it, and is judged by its exit code, stdout and stderr.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { startTestGantry, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "./helpers/temp.ts";
import { runCli, startedRun } from "./helpers/cli.ts";
import { readSse, type SseMessage } from "../app/cli/sse-reader.ts";

// Servers and CLI processes need more than bun test's 5 s default.
setDefaultTimeout(60_000);

const PIPELINES: Record<string, string> = {
  "greet.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "greet",
      name: "Greeter",
      description: "Says hello, then checks",
      variables: { GREETING: "hello" },
      tasks: {
        say: run((ctx) => ctx.log(\`greeting=\${ctx.env.GREETING}\`)),
        check: run((ctx) => ctx.log("checked"), { needs: { say: "success" } }),
      },
    });`,
  "fails.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "fails",
      tasks: {
        boom: run(() => { throw new Error("boom on purpose"); }),
        after: run((ctx) => ctx.log("never"), { needs: { boom: "success" } }),
      },
    });`,
  "ticker.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "ticker",
      tasks: {
        tick: run(async (ctx) => {
          for (let i = 1; i <= 5; i++) {
            ctx.log(\`tick \${i}\`);
            await Bun.sleep(200);
          }
        }),
      },
    });`,
  "slow.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "slow",
      tasks: {
        wait: run(async (ctx) => {
          for (let i = 0; i < 600 && !ctx.signal.aborted; i++) await Bun.sleep(100);
        }),
      },
    });`,
  "broken.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({
      id: "broken",
      tasks: { a: run(() => {}, { needs: { missing: "success" } }) },
    });`,
  "ops/backup.ts": `
    import { definePipeline, run } from "gantry";
    export default definePipeline({ id: "backup", name: "Nightly backup", tasks: { dump: run(() => {}) } });`,
};

let gantry: TestGantry;

/** Runs `gantry <args>` from source against the test server. */
const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(args, { server: gantry, env });


async function runState(pipeline: string, run: number): Promise<RunJson> {
  const response = await gantry.api(`/pipelines/${pipeline}/runs/${run}`);
  return ((await response.json()) as { run: RunJson }).run;
}

beforeAll(async () => {
  const pipelinesDir = tempDir("gantry-cli-pipelines-");
  for (const [file, source] of Object.entries(PIPELINES)) writeFile(join(pipelinesDir, file), source);
  gantry = await startTestGantry({ pipelinesDir });
});

afterAll(async () => {
  await gantry.stop();
});

describe("gantry (no command)", () => {
  it("prints the usage of every command with --help", async () => {
    const result = await cli(["--help"]);
    expect(result.exitCode).toBe(0);
    for (const command of ["pipeline ls", "pipeline validate", "run start", "run cancel", "logs", "token create", "token revoke"]) {
      expect(result.stdout).toContain(`gantry ${command}`);
    }
  });

  it("answers an unknown subcommand or a missing argument with the usage on stderr and exit 2", async () => {
    const unknown = await cli(["run", "explode"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "run explode"');
    expect(unknown.stderr).toContain("gantry run start <ns/id>");

    const missing = await cli(["run", "get", "greet"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("missing <run>");
    expect(missing.stderr).toContain("usage: gantry run get");

    const badFlag = await cli(["pipeline", "ls", "--bogus"]);
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr).toContain("--bogus");
  });
});

describe("gantry pipeline", () => {
  it("lists pipelines as a table", async () => {
    const result = await cli(["pipeline", "ls"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PIPELINE\s+NAME\s+VERSION\s+TASKS/);
    const greet = lines.find((line) => line.startsWith("default/greet "));
    expect(greet).toMatch(/default\/greet\s+Greeter\s+v1\s+2\s/);
    expect(lines.some((line) => line.startsWith("ops/backup "))).toBe(true);
    expect(lines.find((line) => line.startsWith("default/broken "))).toContain("load error");
    // Not a terminal: no colour codes.
    expect(result.stdout).not.toContain("\x1b[");
  });

  it("lists pipelines as the API's JSON with --json, filtered by --namespace", async () => {
    const all = await cli(["pipeline", "ls", "--json"]);
    expect(all.exitCode).toBe(0);
    const body = JSON.parse(all.stdout) as { pipelines: { namespace: string; id: string; tasks: { id: string; kind: string }[] }[] };
    const greet = body.pipelines.find((pipeline) => pipeline.id === "greet");
    expect(greet?.tasks.map((task) => task.id).sort()).toEqual(["check", "say"]);

    const ops = JSON.parse((await cli(["pipeline", "ls", "--namespace", "ops", "--json"])).stdout) as typeof body;
    expect(ops.pipelines.map((pipeline) => `${pipeline.namespace}/${pipeline.id}`)).toEqual(["ops/backup"]);
  });

  it("shows one pipeline with its tasks, kinds, needs and version", async () => {
    const result = await cli(["pipeline", "get", "greet"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("default/greet");
    expect(result.stdout).toMatch(/version\s+v1/);
    expect(result.stdout).toMatch(/check\s+run\s+say \(success\)/);
    expect(result.stdout).toMatch(/say\s+run\s+-/);

    const namespaced = await cli(["pipeline", "get", "ops/backup", "--json"]);
    expect(namespaced.exitCode).toBe(0);
    expect((JSON.parse(namespaced.stdout) as { pipeline: { name: string } }).pipeline.name).toBe("Nightly backup");
  });

  it("shows a load error with its file, path and message", async () => {
    const result = await cli(["pipeline", "get", "broken"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("load error");
    expect(result.stdout).toMatch(/broken\.ts: tasks\.a\.needs\S*: .*missing/);
  });

  it("answers an unknown pipeline with exit 2 and the API's message", async () => {
    const result = await cli(["pipeline", "get", "nope"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe("gantry: pipeline default/nope not found\n");
  });

  it("validates a good file locally", async () => {
    const file = writeFile(join(tempDir(), "good.ts"), PIPELINES["greet.ts"]!);
    const result = await cli(["pipeline", "validate", file], { GANTRY_URL: "http://127.0.0.1:1" });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe("ok: greet (2 tasks)");
  });

  it("reports each problem of a bad file with its path, exit 1", async () => {
    const file = writeFile(
      join(tempDir(), "bad.ts"),
      `import { definePipeline, run } from "gantry";
       export default definePipeline({ id: "bad", tasks: { a: run(() => {}, { retries: -1 }) } });`,
    );
    const result = await cli(["pipeline", "validate", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(`${file}: tasks.a.retries: `);
  });

  it("answers validate without a file, or with a missing one, with exit 2", async () => {
    expect((await cli(["pipeline", "validate"])).exitCode).toBe(2);
    const missing = await cli(["pipeline", "validate", "/nonexistent/pipeline.ts"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("no such file");
  });
});

describe("gantry dev", () => {
  it("runs a file locally with -v variables, printing each task's log and state", async () => {
    const file = writeFile(join(tempDir(), "greet.ts"), PIPELINES["greet.ts"]!);
    // Nothing of a configured server is touched: its database is never opened.
    const result = await cli(["dev", file, "-v", "GREETING=hi"], { GANTRY_URL: "http://127.0.0.1:1", GANTRY_DB_URL: "file:/nonexistent/gantry.db" });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Greeter: 2 task(s), run locally");
    expect(result.stdout).toMatch(/say\s+│ greeting=hi/);
    expect(result.stdout).toMatch(/✓ say\s+successful in /);
    expect(result.stdout).toMatch(/✓ check\s+successful in /);
    expect(result.stdout).toMatch(/successful in \S+\n$/);
  });

  it("exits 1 when the run fails, and 2 with the usage for a bad command line", async () => {
    const failing = await cli(["dev", writeFile(join(tempDir(), "fails.ts"), PIPELINES["fails.ts"]!)]);
    expect(failing.exitCode).toBe(1);
    expect(failing.stdout).toMatch(/✗ boom\s+failed/);
    for (const args of [["dev"], ["dev", "x.ts", "-v", "NOEQUALS"], ["dev", "x.ts", "--bogus"]]) {
      const result = await cli(args);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("usage: gantry dev <file>");
    }
    expect((await cli(["dev", "x.ts", "-v", "NOEQUALS"])).stderr).toContain('-v expects KEY=VALUE, got "NOEQUALS"');
  });
});

describe("gantry run", () => {
  it("starts a run, follows it with --wait and exits 0 when it succeeds", async () => {
    const result = await cli(["run", "start", "greet", "--wait"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/started run default\/greet #\d+, waiting for it to end \(also at http:\/\/127\.0\.0\.1:\d+\/pipelines\/default\/greet\/runs\/\d+\)/);
    expect(result.stdout).toMatch(/✓ say\s+successful in /);
    expect(result.stdout).toMatch(/✓ check\s+successful in /);
    expect(result.stdout).toMatch(/run default\/greet #\d+ successful in \S+\n$/);
  });

  it("exits 1 with the failed state and reason when the run fails", async () => {
    const result = await cli(["run", "start", "fails", "--wait"]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/✗ boom\s+failed in \S+ \(exit \d+\): .*boom on purpose/);
    expect(result.stdout).toMatch(/after\s+skipped/);
    expect(result.stdout).toMatch(/run default\/fails #\d+ failed in \S+: task boom failed/);
  });

  it("passes -v variables to the tasks", async () => {
    const started = await cli(["run", "start", "greet", "-v", "GREETING=bonjour", "-v", "EXTRA=a=b", "--wait"]);
    expect(started.exitCode).toBe(0);
    const run = startedRun(started.stdout);
    const log = await cli(["logs", "greet", String(run), "say"]);
    expect(log.exitCode).toBe(0);
    expect(log.stdout).toContain("greeting=bonjour");
    expect((await runState("default/greet", run)).variables).toEqual({ GREETING: "bonjour", EXTRA: "a=b" });
  });

  it("rejects a malformed -v with exit 2", async () => {
    const result = await cli(["run", "start", "greet", "-v", "NOEQUALS"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('-v expects KEY=VALUE, got "NOEQUALS"');
  });

  it("prints the started run as JSON without waiting", async () => {
    const result = await cli(["run", "start", "greet", "--json"]);
    expect(result.exitCode).toBe(0);
    const { run } = JSON.parse(result.stdout) as { run: RunJson };
    expect(run.pipeline).toBe("greet");
    await waitForRun(gantry.api, "default/greet", run.id);
  });

  it("lists runs newest first as a table and as JSON, honouring --limit", async () => {
    const table = await cli(["run", "ls", "greet"]);
    expect(table.exitCode).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^RUN\s+STATE\s+TRIGGER/);
    expect(table.stdout).toMatch(/#1\s+✓ successful\s+api \(bootstrap\)/);

    const json = await cli(["run", "ls", "default/greet", "--limit", "2", "--json"]);
    expect(json.exitCode).toBe(0);
    const { runs } = JSON.parse(json.stdout) as { runs: RunJson[] };
    expect(runs).toHaveLength(2);
    expect(runs[0]!.id).toBeGreaterThan(runs[1]!.id);
  });

  it("shows one run with each task's state, exit code, attempt and reason", async () => {
    const started = await cli(["run", "start", "fails", "--wait"]);
    const run = startedRun(started.stdout);
    const table = await cli(["run", "get", "fails", String(run)]);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(/TASK\s+KIND\s+STATE\s+EXIT\s+ATTEMPT\s+DURATION\s+REASON/);
    expect(table.stdout).toMatch(/boom\s+run\s+✗ failed\s+1\s+1\s+\S+\s+.*boom on purpose/);
    expect(table.stdout).toMatch(/after\s+run\s+- skipped\s+-\s+0\s+-\s+needs boom/);
    expect(table.stdout).toMatch(/reason\s+task boom failed/);

    const json = await cli(["run", "get", "fails", `#${run}`, "--json"]);
    const body = JSON.parse(json.stdout) as { run: RunJson };
    expect(body.run.state).toBe("failed");
    expect(body.run.tasks.find((task) => task.id === "boom")).toMatchObject({ state: "failed", exitCode: 1, attempt: 1 });
  });

  it("cancels a long run; a --wait on it then ends with exit 1", async () => {
    const waiter = Bun.spawn([process.execPath, "app/main.ts", "run", "start", "slow", "--wait"], {
      cwd: REPO_ROOT,
      env: { ...process.env, GANTRY_URL: gantry.url, GANTRY_TOKEN: gantry.token },
      stdout: "pipe",
      stderr: "pipe",
    });
    const output = new Response(waiter.stdout).text();
    const runs = async () => ((await (await gantry.api("/pipelines/default/slow/runs")).json()) as { runs: RunJson[] }).runs;
    const run = await waitFor(async () => (await runs()).find((candidate) => candidate.tasks[0]?.state === "running"), 15_000, "slow to run");

    const cancel = await cli(["run", "cancel", "slow", String(run.id)]);
    expect(cancel.exitCode).toBe(0);
    expect(cancel.stdout).toContain(`cancelling run default/slow #${run.id}`);

    expect(await waiter.exited).toBe(1);
    expect(await output).toMatch(new RegExp(`run default/slow #${run.id} cancelled`));
    expect((await runState("default/slow", run.id)).state).toBe("cancelled");

    const again = await cli(["run", "cancel", "slow", String(run.id)]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain("has already ended");
  });
});

describe("gantry logs", () => {
  it("prints a finished task's log", async () => {
    const run = startedRun((await cli(["run", "start", "ticker", "--wait"])).stdout);
    const result = await cli(["logs", "ticker", String(run), "tick"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split("\n").filter((line) => / tick \d$/.test(line))).toHaveLength(5);
  });

  it("follows a running task with -f until it ends", async () => {
    const started = (await cli(["run", "start", "ticker"])).stdout;
    const run = startedRun(started);
    // Without --wait it says where the run's page is.
    expect(started.trim()).toBe(`started run default/ticker #${run}: ${gantry.url}/pipelines/default/ticker/runs/${run}`);
    const result = await cli(["logs", "ticker", String(run), "tick", "-f"]);
    expect(result.exitCode).toBe(0);
    const ticks = result.stdout.split("\n").filter((line) => / tick \d$/.test(line));
    expect(ticks.map((line) => line.slice(-6))).toEqual(["tick 1", "tick 2", "tick 3", "tick 4", "tick 5"]);
    expect(result.stderr).toContain("task tick ended: successful (exit 0)");
  });

  it("answers an unknown task with exit 2", async () => {
    const result = await cli(["logs", "ticker", "1", "nope"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("task nope is not part of run 1");
  });
});

describe("gantry token", () => {
  it("creates a token whose secret is shown once and works, lists it, and revokes it", async () => {
    const created = await cli(["token", "create", "ci-bot", "--role", "viewer"]);
    expect(created.exitCode).toBe(0);
    expect(created.stdout).toContain("shown only this once");
    const secret = /gty_\S+/.exec(created.stdout)?.[0];
    expect(secret).toBeDefined();
    const id = /created token (\S+) "ci-bot"/.exec(created.stdout)?.[1];
    expect(id).toBeDefined();

    const asViewer = await cli(["pipeline", "ls"], { GANTRY_TOKEN: secret });
    expect(asViewer.exitCode).toBe(0);
    const viewerStart = await cli(["run", "start", "greet"], { GANTRY_TOKEN: secret });
    expect(viewerStart.exitCode).toBe(2);
    expect(viewerStart.stderr).toContain("lacks permission");

    const table = await cli(["token", "ls"]);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+ci-bot\\s+viewer\\s+.*active`));
    const listed = JSON.parse((await cli(["token", "ls", "--json"])).stdout) as { tokens: { id: string; roles: string[]; revokedAt: string | null }[] };
    expect(listed.tokens.find((token) => token.id === id)).toMatchObject({ roles: ["viewer"], revokedAt: null });

    const revoked = await cli(["token", "revoke", id!]);
    expect(revoked.exitCode).toBe(0);
    expect(revoked.stdout).toContain(`revoked token ${id}`);

    const after = await cli(["pipeline", "ls"], { GANTRY_TOKEN: secret });
    expect(after.exitCode).toBe(2);
    expect(after.stderr).toContain("gantry: the server rejected the token: token revoked");
    expect((await cli(["token", "ls"])).stdout).toMatch(new RegExp(`${id}\\s+ci-bot.*revoked`));
  });

  it("creates with --json, several roles and an expiry", async () => {
    const result = await cli(["token", "create", "deployer", "--role", "admin", "--role", "viewer", "--expires", "2099-01-01T00:00:00Z", "--json"]);
    expect(result.exitCode).toBe(0);
    const body = JSON.parse(result.stdout) as { token: { roles: string[]; expiresAt: string }; secret: string };
    expect(body.token.roles).toEqual(["admin", "viewer"]);
    expect(body.token.expiresAt).toBe("2099-01-01T00:00:00.000Z");
    expect(body.secret).toStartWith("gty_");
  });

  it("rejects a bad expiry before asking the server, and an unknown role with the server's message", async () => {
    const expiry = await cli(["token", "create", "x", "--expires", "next week"]);
    expect(expiry.exitCode).toBe(2);
    expect(expiry.stderr).toContain("--expires");
    const role = await cli(["token", "create", "x", "--role", "root"]);
    expect(role.exitCode).toBe(2);
    expect(role.stderr).toContain("unknown role root");
  });
});

describe("gantry connection and credentials", () => {
  it("answers a bad token with exit 2 and a clear message", async () => {
    const result = await cli(["pipeline", "ls"], { GANTRY_TOKEN: "gty_not-a-real-token" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe("gantry: the server rejected the token: invalid token (check GANTRY_TOKEN)\n");
  });

  it("answers an unreachable server with exit 2, naming the URL", async () => {
    // A port that was just free: nothing listens there now.
    const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const url = `http://127.0.0.1:${probe.port}`;
    await probe.stop(true);
    const result = await cli(["run", "ls", "greet"], { GANTRY_URL: url });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`cannot reach the Gantry server at ${url} (connection refused)`);
  });

  it("reads url and token from ~/.gantry.toml when the environment has none", async () => {
    const home = tempDir("gantry-home-");
    writeFile(join(home, ".gantry.toml"), `url = "${gantry.url}"\ntoken = "${gantry.token}"\n`);
    const result = await cli(["pipeline", "ls", "--json"], { HOME: home, GANTRY_URL: undefined, GANTRY_TOKEN: undefined });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('"pipelines"');
  });

  it("says how to configure a token when there is none", async () => {
    const result = await cli(["pipeline", "ls"], { HOME: tempDir("gantry-home-"), GANTRY_TOKEN: undefined });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("no API token: set GANTRY_TOKEN");
  });
});

describe("gantry status", () => {
  it("reports the server and each subsystem, Docker included", async () => {
    const result = await cli(["status"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(gantry.url);
    expect(result.stdout).toMatch(/database\s+ok/);
    expect(result.stdout).toMatch(/docker\s+(ok|unavailable)/);
    expect(result.stdout).toMatch(/sandbox\s+ok/);
    const json = JSON.parse((await cli(["status", "--json"])).stdout) as { status: string; subsystems: Record<string, { status: string }> };
    expect(json.status).toBe("ok");
    expect(Object.keys(json.subsystems).sort()).toEqual(["database", "docker", "sandbox"]);
  });
});

describe("readSse", () => {
  const collect = async (chunks: string[]) => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    const messages: SseMessage[] = [];
    for await (const message of readSse(body)) messages.push(message);
    return messages;
  };

  it("joins multi-line data, skips heartbeats and keeps named events apart, across chunk boundaries", async () => {
    const messages = await collect([": heartbeat\n\nda", "ta: line 1\r", "\ndata: line 2\r\n\r\nevent: end\n", 'data: {"state":"successful"}\n\n', "data: cut off"]);
    expect(messages).toEqual([
      { event: "message", data: "line 1\nline 2" },
      { event: "end", data: '{"state":"successful"}' },
    ]);
  });
});
