// `gantry run exec` end to end: the CLI (piped, and at a real pseudo-terminal) through the
// API's exec WebSocket into a running container task on the real Docker engine — output,
// exit codes, resizes, masking of the task's secrets, refusals and the events it records.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { connect } from "node:net";
import { pageHtml, webLogin } from "./helpers/web.ts";
import { startRun, startWithPipelines, waitFor, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { cliEnv, cliInBackground, runCli } from "./helpers/cli.ts";
import { REPO_ROOT } from "./helpers/temp.ts";

setDefaultTimeout(60_000);

const IMAGE = "local/busybox:latest";
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
/** Every pipeline id here starts with this, so clean-up touches only ours. */
const PREFIX = "rx-";
const SECRET = "exec-s3cret-value-42";

const HEADER = `import { definePipeline, container, run, secret } from "gantry";\n`;
const sh = (script: string, options = "") => `container({ image: ${JSON.stringify(IMAGE)}, command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", ${options} })`;

const PIPELINES = {
  // A long container task with a secret, one that ends at once, and a run() task.
  "rx-long.ts": `${HEADER}export default definePipeline({ id: "rx-long", tasks: {
    hold: ${sh("sleep 60", `env: { SECRET: secret("exec_secret") }`)},
    done: ${sh("echo done")},
    code: run((ctx) => ctx.log("ran")),
  } });\n`,
  "rx-plain.ts": `${HEADER}export default definePipeline({ id: "rx-plain", tasks: { hold: ${sh("sleep 60")} } });\n`,
};

let gantry: TestGantry;
let runId: number;
const api = (path: string, init?: RequestInit) => gantry.api(path, init);
const cli = (args: string[], token = gantry.token) => runCli(args, { server: { url: gantry.url, token } });

async function runningTask(pipeline: string, run: number, task: string): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await api(`/pipelines/default/${pipeline}/runs/${run}`)).json()) as { run: RunJson };
      return body.run.tasks.find((candidate) => candidate.id === task)?.state === "running";
    },
    20_000,
    `${pipeline} #${run} ${task} to run`,
  );
}

beforeAll(async () => {
  gantry = await startWithPipelines(PIPELINES);
  expect((await api("/pipelines/default/rx-long/secrets/exec_secret", { method: "PUT", body: JSON.stringify({ value: SECRET }) })).status).toBe(201);
  runId = (await startRun(api, "default/rx-long")).id;
  await runningTask("rx-long", runId, "hold");
  // "done" and "code" end quickly; "hold" sleeps on.
  await waitFor(async () => {
    const body = (await (await api(`/pipelines/default/rx-long/runs/${runId}`)).json()) as { run: RunJson };
    return body.run.tasks.filter((task) => task.id !== "hold").every((task) => task.state === "successful");
  });
});

afterAll(async () => {
  await gantry?.stop();
  const left = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true"] } });
  for (const info of left) {
    if (info.Labels["gantry.pipeline"]?.startsWith(PREFIX)) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

describe("gantry run exec", () => {
  it("runs a command in the running container: its output, and its exit code as the CLI's", async () => {
    const result = await cli(["run", "exec", "default/rx-long", String(runId), "hold", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    expect(result.stdout).toBe("hi\n");
    expect(result.stderr).toBe("oops\n");
    expect(result.exitCode).toBe(3);
    // It ran beside the task, which runs on.
    expect((await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "cat", "/proc/1/cmdline"])).stdout).toContain("sleep");
  });

  it("pipes stdin through without a terminal, to its end", async () => {
    const result = await runCli(["run", "exec", "rx-long", String(runId), "hold", "--", "wc", "-l"], { server: { url: gantry.url, token: gantry.token }, stdin: "one\ntwo\nthree\n" });
    expect(result.stdout.trim()).toBe("3");
    expect(result.exitCode).toBe(0);
  });

  it("masks the task's secrets in what it shows, as the task's log does", async () => {
    const plain = await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "sh", "-c", "echo $SECRET; printf 'exec-s3cr'; printf 'et-value-42\\n'; echo $SECRET | base64"]);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).not.toContain(SECRET);
    expect(plain.stdout).not.toContain(Buffer.from(`${SECRET}\n`).toString("base64").slice(0, 20));
    expect(plain.stdout.split("\n")[0]).toBe("***");
  });

  it("gives an interactive sh at a terminal: raw keys, resizes, and the exit code", async () => {
    let screen = "";
    const decoder = new TextDecoder();
    const proc = Bun.spawn([process.execPath, "app/main.ts", "run", "exec", "rx-long", String(runId), "hold"], {
      cwd: REPO_ROOT,
      env: cliEnv({ url: gantry.url, token: gantry.token }),
      terminal: { cols: 90, rows: 30, data: (_, bytes) => void (screen += decoder.decode(bytes, { stream: true })) },
    });
    const terminal = proc.terminal!;
    try {
      await waitFor(() => screen.includes("# "), 15_000, `the shell's prompt in ${JSON.stringify(screen)}`);
      // The terminal's size at the start reaches the container (busybox has stty as an applet).
      terminal.write("busybox stty size\r");
      await waitFor(() => screen.includes("30 90"), 10_000, "the first size");
      terminal.write("echo $((6*7))\r");
      await waitFor(() => /\n42\r*\n/.test(screen), 10_000, `42 in ${JSON.stringify(screen.slice(-200))}`);
      terminal.write("echo $SECRET\r");
      await waitFor(() => screen.includes("***"), 10_000, "the masked secret");
      expect(screen).not.toContain(SECRET);
      // A resize of the window (SIGWINCH to the CLI) reaches the container's terminal.
      terminal.resize(120, 40);
      await Bun.sleep(300);
      terminal.write("busybox stty size\r");
      await waitFor(() => screen.includes("40 120"), 10_000, `the new size in ${JSON.stringify(screen.slice(-200))}`);
      terminal.write("exit 4\r");
      expect(await proc.exited).toBe(4);
    } finally {
      proc.kill();
      terminal.close();
    }
  });

  it("refuses a task that has ended, a run() task and an unknown task, saying why", async () => {
    const ended = await cli(["run", "exec", "rx-long", String(runId), "done", "--", "true"]);
    expect(ended.exitCode).toBe(2);
    expect(ended.stderr).toContain("task done of default/rx-long run");
    expect(ended.stderr).toContain("it has ended (successful)");
    const code = await cli(["run", "exec", "rx-long", String(runId), "code"]);
    expect(code.exitCode).toBe(2);
    expect(code.stderr).toContain("only container tasks can be exec'd into");
    const unknown = await cli(["run", "exec", "rx-long", String(runId), "nope"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("task nope is not part of run");
    // Over HTTP: JSON errors with fitting statuses, before any upgrade.
    const path = (task: string) => `/pipelines/default/rx-long/runs/${runId}/tasks/${task}/exec`;
    expect((await api(path("done"))).status).toBe(409);
    expect((await api(path("nope"))).status).toBe(404);
    expect((await api(`/pipelines/default/rx-long/runs/999/tasks/hold/exec`)).status).toBe(404);
    // Everything else fine, but no WebSocket asked for.
    const plain = await api(path("hold"));
    expect(plain.status).toBe(426);
    expect(((await plain.json()) as { error: { message: string } }).error.message).toContain("WebSocket");
  });

  it("needs runs:exec, which runs read and write do not give", async () => {
    const role = await api("/roles/runner", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "runs", target: ".*", actions: ["read", "write"] }] }) });
    expect(role.status).toBe(201);
    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "ci-runner", roles: ["runner"] }) });
    const { secret } = (await created.json()) as { secret: string };
    const refused = await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "true"], secret);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain("lacks permission runs:exec on default/rx-long");
    // With it (and only it), the same works.
    expect((await api("/roles/execer", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "runs", target: "default/rx-long", actions: ["exec"] }] }) })).status).toBe(201);
    const execer = (await (await api("/tokens", { method: "POST", body: JSON.stringify({ name: "ci-execer", roles: ["execer"] }) })).json()) as { secret: string };
    expect((await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "true"], execer.secret)).exitCode).toBe(0);
    // The run page gives the command to those who may use it, for the running container task only.
    const hint = "gantry run exec default/rx-long " + runId + " hold";
    const admin = await webLogin(gantry.url, gantry.token);
    const adminPage = await pageHtml(admin, `/pipelines/default/rx-long/runs/${runId}`);
    expect(adminPage).toContain(`<code>${hint}</code>`);
    expect(adminPage).not.toContain(`${runId} done</code>`);
    const runner = await webLogin(gantry.url, secret);
    expect(await pageHtml(runner, `/pipelines/default/rx-long/runs/${runId}`)).not.toContain("gantry run exec");
  });

  it("refuses runs started by a pull request from a fork", async () => {
    const fork = await gantry.deps.orchestrator.startRun({ namespace: "default", id: "rx-plain" }, { trigger: { kind: "github" }, noSecrets: true });
    await runningTask("rx-plain", fork.id, "hold");
    const refused = await cli(["run", "exec", "rx-plain", String(fork.id), "hold", "--", "true"]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain("pull request from a fork");
    expect((await api(`/pipelines/default/rx-plain/runs/${fork.id}/tasks/hold/exec`)).status).toBe(403);
    expect((await api(`/pipelines/default/rx-plain/runs/${fork.id}/cancel`, { method: "POST" })).status).toBe(202);
    await waitForRun(api, "default/rx-plain", fork.id);
  });

  it("records each session as events: who, what, and how it ended", async () => {
    expect((await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "sh", "-c", "exit 5"])).exitCode).toBe(5);
    const { events } = (await (await api("/events?limit=1000")).json()) as { events: { kind: string; task?: string; run?: number; data: Record<string, unknown> }[] };
    const ours = events.filter((event) => event.kind.startsWith("task.exec_") && event.run === runId && event.task === "hold");
    const last = ours.slice(-2);
    expect(last.map((event) => event.kind)).toEqual(["task.exec_started", "task.exec_ended"]);
    expect(last[0]!.data).toMatchObject({ by: "bootstrap", command: ["sh", "-c", "exit 5"], tty: false, attempt: 1 });
    expect(last[1]!.data).toMatchObject({ by: "bootstrap", command: ["sh", "-c", "exit 5"], exitCode: 5 });
    // A secret typed into the command is masked in the events, which viewers may read.
    expect((await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "sh", "-c", `test "$SECRET" = "${SECRET}"`])).exitCode).toBe(0);
    const after = (await (await api("/events?limit=1000")).json()) as { events: { kind: string; data: { command?: string[] } }[] };
    const typed = after.events.filter((event) => event.kind === "task.exec_started").at(-1)!;
    expect(typed.data.command).toEqual(["sh", "-c", 'test "$SECRET" = "***"']);
    expect(JSON.stringify(after.events)).not.toContain(SECRET);
  });

  it("carries a large output whole, however fast the client reads", async () => {
    const result = await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "sh", "-c", "head -c 20000000 /dev/zero | busybox tr '\\0' 'x'"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(20_000_000);
  });

  it("holds the command's output while a client stops reading, and loses none of it", async () => {
    // A raw socket that does the WebSocket handshake, then reads nothing for two seconds.
    const url = new URL(gantry.url);
    const path = `/api/v1/pipelines/default/rx-long/runs/${runId}/tasks/hold/exec?cmd=sh&cmd=-c&cmd=${encodeURIComponent("head -c 64000000 /dev/zero")}&tty=0`;
    const socket = connect(Number(url.port), url.hostname);
    let received = 0;
    let text = "";
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      // The control messages are the only text in the stream: the exit code is among the last bytes.
      text = (text + chunk.toString("latin1")).slice(-200);
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${gantry.token}\r\n\r\n`,
    );
    await Bun.sleep(200);
    socket.pause();
    await Bun.sleep(2_000);
    socket.resume();
    await Promise.race([closed, Bun.sleep(20_000)]);
    socket.destroy();
    // 64 MB of output, each frame with its stream byte and header: nothing dropped.
    expect(received).toBeGreaterThan(64_000_000);
    expect(text).toContain('{"type":"exit","code":0}');
  });

  it("allows four sessions in a task at once, and ends a session once its token is revoked", async () => {
    const created = (await (await api("/tokens", { method: "POST", body: JSON.stringify({ name: "shell-user", roles: ["admin"] }) })).json()) as { token: { id: string }; secret: string };
    const holding = Array.from({ length: 4 }, () => cliInBackground(["run", "exec", "rx-long", String(runId), "hold", "--", "sh", "-c", "echo open; sleep 30"], { server: { url: gantry.url, token: created.secret } }));
    await waitFor(async () => (holding.every((session) => session.stdout().includes("open")) ? true : undefined), 15_000, "four sessions");
    const fifth = await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "true"]);
    expect(fifth.exitCode).toBe(2);
    expect(fifth.stderr).toContain("task hold has 4 exec sessions open already");
    expect((await api(`/tokens/${created.token.id}`, { method: "DELETE" })).status).toBe(200);
    const ended = await Promise.all(holding.map((session) => session.done));
    for (const session of ended) {
      expect(session.exitCode).toBe(2);
      expect(session.stderr).toContain("your token no longer opens this session");
    }
    // Their places are free again.
    expect((await cli(["run", "exec", "rx-long", String(runId), "hold", "--", "true"])).exitCode).toBe(0);
  });
});
