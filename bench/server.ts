// Server benchmark: a real `gantry serve` process (sandbox on, as served), driven over its
// API like a user: a 3-step sequential run() pipeline POST → run finished (events stream)
// against three bare Bun processes, one-task runs the same way, the idle server's RSS
// against an idle bare Bun process, and the server's CPU per one-task run.
// Usage: bun bench/server.ts [--quick] [--idle-for <seconds>]
// --idle-for: the RSS again after that long idle (it grows back some as code warms up again),
// and 45 s after the runs (a burst's memory given back once quiet).
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { benchRoot, median, ms, percentile, printFigures } from "./shared.ts";

const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 10 : 30;
const CPU_RUNS = quick ? 30 : 100;
const SETTLE_MS = 3000;
/** --idle-for <seconds> or --idle-for=<seconds>; 0 when not given. */
function idleForSeconds(): number {
  const at = process.argv.findIndex((arg) => arg === "--idle-for" || arg.startsWith("--idle-for="));
  if (at === -1) return 0;
  const text = process.argv[at]!.includes("=") ? process.argv[at]!.slice("--idle-for=".length) : (process.argv[at + 1] ?? "");
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds < 0) throw new Error(`--idle-for takes a number of seconds, not "${text}"`);
  return seconds;
}
const IDLE_FOR_S = idleForSeconds();
/** With --idle-for: how long the server is left quiet after its runs before its RSS is read again. */
const QUIET_AFTER_RUNS_S = 45;
/**
 * Each latency sample, bare or through the API, starts this long after the one before, on an
 * idle machine: the server boots its warm runners again once runs stop taking them, and a
 * bare process timed while they boot measures their boots as much as itself.
 */
const IDLE_MS = 150;
const REPO = join(import.meta.dir, "..");
/** Linux's clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`). */
const CLK_TCK = 100;

const { root, pipelinesDir } = benchRoot("server");
const FUNCTION_BODY = `console.log("ok")`;
writeFileSync(
  join(pipelinesDir, "one.ts"),
  `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "one", tasks: { a: run(() => { ${FUNCTION_BODY} }) } });\n`,
);
writeFileSync(
  join(pipelinesDir, "three.ts"),
  `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "three", tasks: {\n` +
    `  a: run(() => { ${FUNCTION_BODY} }),\n  b: run(() => { ${FUNCTION_BODY} }, { needs: { a: "success" } }),\n  c: run(() => { ${FUNCTION_BODY} }, { needs: { b: "success" } }),\n} });\n`,
);
const bareFile = join(root, "bare.ts");
writeFileSync(bareFile, `const fn = () => { ${FUNCTION_BODY} };\nawait fn();\n`);
const idleFile = join(root, "idle.ts");
writeFileSync(idleFile, `setInterval(() => {}, 60_000);\n`);
// The sandbox user imports pipeline code from here (as in bench/engine.ts).
chmodSync(root, 0o755);

/** A bare Bun process running the function: wall time and CPU time (user + system), in ms. */
async function bareProcess(): Promise<{ wall: number; cpu: number }> {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, bareFile], { stdout: "pipe", stderr: "pipe" });
  await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const wall = performance.now() - started;
  return { wall, cpu: Number(child.resourceUsage()?.cpuTime.total ?? 0) / 1000 };
}

/**
 * The process's resident memory in MiB: all of it (the goal's figure), its own (anonymous:
 * heaps, stacks), and file pages (the bun binary's code, shared with every bun process).
 */
function rssMiB(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
  return { total: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

/** CPU the process used so far in ms: its own (user + system) and with its waited-for children. */
function cpuOf(pid: number): { own: number; withChildren: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the ")" that ends the command name: utime is field 14, stime 15, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  const [utime, stime, cutime, cstime] = [fields[11]!, fields[12]!, fields[13]!, fields[14]!];
  return { own: ((utime + stime) * 1000) / CLK_TCK, withChildren: ((utime + stime + cutime + cstime) * 1000) / CLK_TCK };
}

const server = Bun.spawn([process.execPath, join(REPO, "app", "main.ts"), "serve"], {
  cwd: root,
  env: {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    GANTRY_DATA_DIR: join(root, "data"),
    GANTRY_PIPELINES_DIR: pipelinesDir,
    GANTRY_EXTENSIONS_DIR: join(REPO, "extensions"),
    GANTRY_HOST: "127.0.0.1",
    GANTRY_PORT: "0",
    GANTRY_HOOKS_PORT: "0",
  },
  stdout: "pipe",
  stderr: "pipe",
});
const idle = Bun.spawn([process.execPath, idleFile], { stdout: "ignore", stderr: "ignore" });
let output = "";
void (async () => {
  for await (const chunk of server.stdout as ReadableStream<Uint8Array>) output += new TextDecoder().decode(chunk);
})();
void (async () => {
  for await (const chunk of server.stderr as ReadableStream<Uint8Array>) output += new TextDecoder().decode(chunk);
})();

try {
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/\S+)/.exec(output)?.[1])) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`gantry serve did not start:\n${output}`);
    await Bun.sleep(20);
  }
  const token = readFileSync(join(root, "data", "bootstrap-token"), "utf8").trim();
  const auth = { authorization: `Bearer ${token}` };
  console.log(`gantry server benchmark — ${cpus().length} cores, bun ${Bun.version}${quick ? " (quick)" : ""}`);

  // 1. Idle: the server after start-up (pipelines loaded; these subscribe to no extension, so
  // Gantry's own stay idle, without Workers), nothing running.
  await Bun.sleep(SETTLE_MS);
  const idleRss = rssMiB(server.pid);
  const bareIdleRss = rssMiB(idle.pid);
  console.log(`\nidle, ${SETTLE_MS / 1000} s after start-up`);
  const split = (rss: { anon: number; file: number }) => `(own ${rss.anon.toFixed(1)}, file pages ${rss.file.toFixed(1)})`;
  console.log(`  bare bun process (a timer)   RSS ${bareIdleRss.total.toFixed(1)} MiB ${split(bareIdleRss)}`);
  console.log(`  gantry serve                 RSS ${idleRss.total.toFixed(1)} MiB ${split(idleRss)}   (over bare: ${(idleRss.total - bareIdleRss.total).toFixed(1)} MiB)`);
  let highest: ReturnType<typeof rssMiB> | undefined;
  if (IDLE_FOR_S > 0) {
    // Sampled every 10 s: the highest is what the server holds once warm again, idle.
    highest = idleRss;
    let later = idleRss;
    for (let waited = 0; waited < IDLE_FOR_S; waited += 10) {
      await Bun.sleep(Math.min(10, IDLE_FOR_S - waited) * 1000);
      later = rssMiB(server.pid);
      if (later.total > highest.total) highest = later;
    }
    console.log(`  after ${IDLE_FOR_S} s more, idle     RSS ${later.total.toFixed(1)} MiB ${split(later)}; highest sampled ${highest.total.toFixed(1)} MiB`);
  }

  // The events stream: run.finished events, as a client waiting for its run would see them.
  const finished = new Map<string, string>();
  const waiters = new Map<string, () => void>();
  const stream = await fetch(`${url}/api/v1/events/stream`, { headers: { ...auth, accept: "text/event-stream" } });
  if (stream.status !== 200 || !stream.body) throw new Error(`events stream answered ${stream.status}`);
  void (async () => {
    let buffer = "";
    for await (const chunk of stream.body as ReadableStream<Uint8Array>) {
      buffer += new TextDecoder().decode(chunk);
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = buffer
          .slice(0, end)
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        buffer = buffer.slice(end + 2);
        if (!data) continue;
        const event = JSON.parse(data) as { kind: string; pipeline: string; run: number; data?: { state?: string } };
        if (event.kind !== "run.finished") continue;
        const key = `${event.pipeline}#${event.run}`;
        finished.set(key, event.data?.state ?? "?");
        waiters.get(key)?.();
      }
    }
  })().catch(() => undefined);

  /** POST .../runs → the run's run.finished event on the stream; throws unless it succeeded. */
  async function apiRun(id: string): Promise<number> {
    const started = performance.now();
    const response = await fetch(`${url}/api/v1/pipelines/default/${id}/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}",
    });
    const body = (await response.json()) as { run?: { id: number } };
    if (response.status !== 201 || !body.run) throw new Error(`POST runs of ${id} answered ${response.status}: ${JSON.stringify(body)}`);
    const key = `${id}#${body.run.id}`;
    if (!finished.has(key)) await new Promise<void>((resolve) => waiters.set(key, resolve));
    const elapsed = performance.now() - started;
    waiters.delete(key);
    if (finished.get(key) !== "successful") {
      const run = (await (await fetch(`${url}/api/v1/pipelines/default/${id}/runs/${body.run.id}`, { headers: auth })).json()) as {
        run?: { reason?: string; tasks?: { id: string; state: string; reason?: string }[] };
      };
      const why = run.run?.tasks?.map((task) => `${task.id}: ${task.state}${task.reason ? ` (${task.reason})` : ""}`).join("; ");
      const logs = await Promise.all(
        (run.run?.tasks ?? []).map(async (task) => `--- ${task.id}\n${await (await fetch(`${url}/api/v1/pipelines/default/${id}/runs/${body.run!.id}/tasks/${task.id}/logs`, { headers: auth })).text()}`),
      );
      throw new Error(`run ${key} ended ${finished.get(key)}${run.run?.reason ? `: ${run.run.reason}` : ""}; ${why}\n${logs.join("\n").slice(-3000)}\n${output.slice(-3000)}`);
    }
    return elapsed;
  }

  for (let i = 0; i < 3; i++) {
    await bareProcess();
    await apiRun("one");
    await apiRun("three");
  }

  // 2. Latency through the API, alternating with the bare processes.
  const bare: number[] = [];
  const bareCpu: number[] = [];
  const bareThree: number[] = [];
  const one: number[] = [];
  const three: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    await Bun.sleep(IDLE_MS);
    const sample = await bareProcess();
    bare.push(sample.wall);
    bareCpu.push(sample.cpu);
    await Bun.sleep(IDLE_MS);
    bareThree.push((await bareProcess()).wall + (await bareProcess()).wall + (await bareProcess()).wall);
    await Bun.sleep(IDLE_MS);
    one.push(await apiRun("one"));
    await Bun.sleep(IDLE_MS);
    three.push(await apiRun("three"));
  }
  console.log(`\nthrough the API (${SAMPLES} alternating samples ${IDLE_MS} ms apart, POST .../runs → run.finished on /api/v1/events/stream, sandbox on)`);
  console.log(`  bare bun process                median ${ms(median(bare))}`);
  console.log(`  one-task run                    median ${ms(median(one))}   p99 ${ms(percentile(one, 99))}   (over bare: ${ms(median(one) - median(bare))})`);
  console.log(`  three bare bun processes        median ${ms(median(bareThree))}`);
  console.log(`  3-step sequential run           median ${ms(median(three))}   p99 ${ms(percentile(three, 99))}   (over bare: ${ms(median(three) - median(bareThree))})`);

  // 3. CPU per one-task run: the server's own CPU, and with its task processes (reaped
  //    children count once they ended), over runs started one after another.
  const before = cpuOf(server.pid);
  for (let i = 0; i < CPU_RUNS; i++) await apiRun("one");
  const after = cpuOf(server.pid);
  const cpuOwn = (after.own - before.own) / CPU_RUNS;
  const cpuTotal = (after.withChildren - before.withChildren) / CPU_RUNS;
  console.log(`\nCPU per one-task run (${CPU_RUNS} runs through the API, one after another; /proc at ${1000 / CLK_TCK} ms ticks)`);
  console.log(`  bare bun process running the function   median ${ms(median(bareCpu))}`);
  console.log(`  gantry serve, its own                    ${ms(cpuOwn)}`);
  console.log(`  gantry serve with its task processes     ${ms(cpuTotal)}`);

  // After all those runs, quiet again: the server gives a burst's memory back once a quiet spell
  // follows it (app/engine/idle-memory.ts: three quiet looks 10 s apart).
  let afterRuns: { busy: ReturnType<typeof rssMiB>; quiet: ReturnType<typeof rssMiB> } | undefined;
  if (IDLE_FOR_S > 0) {
    const busy = rssMiB(server.pid);
    await Bun.sleep(QUIET_AFTER_RUNS_S * 1000);
    afterRuns = { busy, quiet: rssMiB(server.pid) };
    console.log(`\nafter its runs: RSS ${busy.total.toFixed(1)} MiB ${split(busy)}; ${QUIET_AFTER_RUNS_S} s later, quiet: ${afterRuns.quiet.total.toFixed(1)} MiB ${split(afterRuns.quiet)}`);
  }

  printFigures({
    ...(afterRuns && { afterRunsRssMiB: afterRuns.busy.total, afterRunsQuietRssMiB: afterRuns.quiet.total }),
    idleRssMiB: idleRss.total,
    idleAnonMiB: idleRss.anon,
    ...(highest && { idleLaterRssMiB: highest.total, idleForS: IDLE_FOR_S }),
    bareIdleRssMiB: bareIdleRss.total,
    bareMs: median(bare),
    oneTaskApiMs: median(one),
    bareThreeMs: median(bareThree),
    threeStepApiMs: median(three),
    threeStepApiP99Ms: percentile(three, 99),
    cpuPerRunOwnMs: cpuOwn,
    cpuPerRunTotalMs: cpuTotal,
    bareCpuMs: median(bareCpu),
  });
} finally {
  idle.kill();
  server.kill("SIGTERM");
  await Promise.race([server.exited, Bun.sleep(15_000)]);
  if (server.exitCode === null) server.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
}
