// Webhook benchmark: signed POST → run running latency, and deliveries accepted per second
// under a bounded loopback load, none lost or started twice. Goals are in bench/README.md.
// Exits 1 if a delivery was lost or started a second run (a bug, not a slow figure).
// Usage: bun bench/hooks.ts [--quick]
import { rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { eq, and } from "drizzle-orm";
import { runs } from "../app/db/schema/index.ts";
import { signBody } from "../app/domain/hmac-signature.ts";
import { startGantry } from "../app/start.ts";
import { benchConfig, benchRoot, median, ms, percentile, printFigures } from "./shared.ts";

const quick = process.argv.includes("--quick");
const LATENCY_SAMPLES = quick ? 50 : 300;
const LOAD_DELIVERIES = quick ? 500 : 2000;
const LOAD_CONCURRENCY = 32;
const LOAD_DEADLINE_MS = 60_000;
const REPLAYS = 200;
const SECRET = "bench-hook-secret";

const { root, pipelinesDir } = benchRoot("hooks");
const pipeline = (id: string) => `
import { definePipeline, run, secret, webhook } from "gantry";
export default definePipeline({
  id: "${id}",
  triggers: [webhook({ secret: secret("hook"), variables: { REF: "ref", WHO: "pusher.name" } })],
  tasks: { a: run(() => {}) },
});
`;
writeFileSync(join(pipelinesDir, "latency.ts"), pipeline("latency"));
writeFileSync(join(pipelinesDir, "load.ts"), pipeline("load"));
// The floor of a delivery's run: a bare Bun process running the task's (empty) function.
const bareFile = join(root, "bare.ts");
writeFileSync(bareFile, `const fn = () => {};\nawait fn();\n`);
async function bareProcess(): Promise<number> {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, bareFile], { stdout: "pipe", stderr: "pipe" });
  await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return performance.now() - started;
}
// Holds the one task slot while the load phase runs, so no task process competes with it.
writeFileSync(
  join(pipelinesDir, "blocker.ts"),
  `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "blocker", tasks: { hold: run(async (ctx) => { await Bun.sleep(600_000); }) } });\n`,
);

const config = benchConfig(root, pipelinesDir, {
  // One task at a time: in the load phase the blocker holds it, so the runs accepted there
  // wait for it and acceptance is measured apart from task execution.
  GANTRY_MAX_PARALLEL_TASKS: "1",
});
const gantry = await startGantry(config);
const { deps } = gantry;
for (const id of ["latency", "load"]) await deps.secrets.set({ kind: "pipeline", pipeline: { namespace: "default", id } }, "hook", SECRET, new Date());

/** When each run reached "running" and finished, by "<pipeline>#<run>", stamped as the bus says so. */
const runningAt = new Map<string, number>();
const finishedAt = new Map<string, number>();
const waiters = new Map<string, () => void>();
deps.bus.subscribe((message) => {
  const key = `${message.pipeline}#${message.run}`;
  if (message.kind === "run.started") runningAt.set(key, performance.now());
  else if (message.kind === "run.finished") finishedAt.set(key, performance.now());
  else return;
  waiters.get(`${message.kind}:${key}`)?.();
});
const waitBus = (kind: string, key: string, map: Map<string, number>) =>
  map.has(key) ? Promise.resolve() : new Promise<void>((resolve) => waiters.set(`${kind}:${key}`, resolve));

interface Answer {
  status: number;
  run?: { id: number; duplicate: boolean };
}

async function deliver(id: string, payload: unknown, delivery?: string, base = gantry.hooksUrl): Promise<Answer> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${base}/hooks/webhook/default/${id}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-gantry-signature-256": signBody(SECRET, body),
      ...(delivery && { "x-gantry-delivery": delivery }),
    },
    body,
  });
  const answer = (await response.json()) as { run?: Answer["run"] };
  return { status: response.status, ...(answer.run && { run: answer.run }) };
}

const payload = (i: number) => ({ ref: `refs/heads/branch-${i}`, pusher: { name: `pusher ${i}` }, padding: "x".repeat(512) });

console.log(`gantry webhook benchmark — ${cpus().length} cores, bun ${Bun.version}${quick ? " (quick)" : ""}`);

// 1. Latency, one delivery at a time on an idle server: POST → 202, and POST → run running
//    (the run.started bus message, published once that state is committed). Each sample
//    waits for the previous run to finish, so no task process competes with it.
const acked: number[] = [];
const running: number[] = [];
const done: number[] = [];
const bare: number[] = [];
for (let i = -20; i < LATENCY_SAMPLES; i++) {
  const sent = performance.now();
  const answer = await deliver("latency", payload(i), `latency-${i}`);
  const ackAt = performance.now();
  if (answer.status !== 202 || !answer.run) throw new Error(`latency delivery ${i}: ${answer.status}`);
  const key = `latency#${answer.run.id}`;
  await waitBus("run.started", key, runningAt);
  if (i >= 0) {
    acked.push(ackAt - sent);
    running.push(runningAt.get(key)! - sent);
  }
  await waitBus("run.finished", key, finishedAt);
  if (i >= 0) {
    done.push(finishedAt.get(key)! - sent);
    // Alternated with the samples, so drift in machine load hits both alike.
    bare.push(await bareProcess());
  }
}
console.log(`\nwebhook → run (${LATENCY_SAMPLES} sequential signed deliveries, idle server)`);
console.log(`  POST → 202          median ${ms(median(acked), 2)}   p99 ${ms(percentile(acked, 99), 2)}`);
console.log(
  `  POST → run running  median ${ms(median(running), 2)}   p99 ${ms(percentile(running, 99), 2)}   (goal: median < 10 ms) ${median(running) < 10 ? "OK" : "MISSED"}`,
);
console.log(`  POST → run finished median ${ms(median(done), 2)}   p99 ${ms(percentile(done, 99), 2)}`);
console.log(`  bare bun process    median ${ms(median(bare), 2)}   p99 ${ms(percentile(bare, 99), 2)}`);

/** The same load against a bare Bun server that reads the body and answers 202: the floor of loopback HTTP here. */
async function loadRate(base: string, count: number): Promise<number> {
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (sent < count) {
        const i = sent++;
        await deliver("load", payload(i), `bare-${i}`, base);
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}
const bareServer = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: async (request) => {
    await request.json();
    return Response.json({ run: { id: 1, duplicate: false } }, { status: 202 });
  },
});
const bareRate = await loadRate(`http://127.0.0.1:${bareServer.port}`, LOAD_DELIVERIES);
await bareServer.stop(true);

// 2. Acceptance under load: unique delivery ids, LOAD_CONCURRENCY at once, bounded in time.
//    Accepted means answered 202: the delivery and its run are stored and the run is
//    running, its task queued behind the blocker's.
const blocker = await deps.orchestrator.startRun({ namespace: "default", id: "blocker" }, { trigger: { kind: "bench" } });
await waitBus("run.started", `blocker#${blocker.id}`, runningAt);
const accepted = new Map<string, number>();
const failures: string[] = [];
let next = 0;
const loadStart = performance.now();
const deadline = loadStart + LOAD_DEADLINE_MS;
await Promise.all(
  Array.from({ length: LOAD_CONCURRENCY }, async () => {
    while (next < LOAD_DELIVERIES && performance.now() < deadline) {
      const i = next++;
      const delivery = `load-${i}`;
      const answer = await deliver("load", payload(i), delivery).catch((error: Error) => ({ status: 0, error: error.message }) as Answer & { error: string });
      if (answer.status === 202 && answer.run && !answer.run.duplicate) accepted.set(delivery, answer.run.id);
      else failures.push(`${delivery}: ${answer.status} ${"error" in answer ? answer.error : JSON.stringify(answer.run)}`);
    }
  }),
);
const loadSeconds = (performance.now() - loadStart) / 1000;
const rate = accepted.size / loadSeconds;

// None lost: every 202 names a distinct run that is in the database.
const loadRunIds = async () =>
  new Set((await deps.db.select({ id: runs.id }).from(runs).where(and(eq(runs.namespace, "default"), eq(runs.pipelineId, "load")))).map((row) => row.id));
const ids = new Set(accepted.values());
const storedIds = await loadRunIds();
const stored = storedIds.size;
const lost = [...ids].filter((id) => !storedIds.has(id)).length;

// None duplicated: replaying delivery ids starts nothing and names the same runs.
const replayed = [...accepted.entries()].slice(0, REPLAYS);
let replayMismatches = 0;
for (let i = 0; i < replayed.length; i += LOAD_CONCURRENCY) {
  await Promise.all(
    replayed.slice(i, i + LOAD_CONCURRENCY).map(async ([delivery, runId]) => {
      const answer = await deliver("load", payload(Number(delivery.slice(5))), delivery);
      if (answer.status !== 202 || !answer.run?.duplicate || answer.run.id !== runId) replayMismatches++;
    }),
  );
}
const afterReplay = (await loadRunIds()).size;

console.log(`\nacceptance under load (${LOAD_DELIVERIES} signed deliveries, unique ids, concurrency ${LOAD_CONCURRENCY}, loopback, task slot held)`);
console.log(`  accepted ${accepted.size} in ${loadSeconds.toFixed(2)} s: ${rate.toFixed(0)} deliveries/s   (goal ≥ 500/s) ${rate >= 500 ? "OK" : "MISSED"}`);
console.log(`  bare Bun server answering 202, same client and concurrency: ${bareRate.toFixed(0)} requests/s`);
console.log(`  failed ${failures.length}${failures.length ? ` (first: ${failures[0]})` : ""}`);
console.log(`  lost ${lost} (202s ${accepted.size}, distinct runs ${ids.size}, runs stored ${stored})`);
console.log(`  duplicated ${afterReplay - stored} after replaying ${replayed.length} delivery ids (${replayMismatches} answers not duplicate:true with the same run)`);

printFigures({
  ackMs: median(acked),
  runningMs: median(running),
  finishedMs: median(done),
  finishedP99Ms: percentile(done, 99),
  bareMs: median(bare),
  bareP99Ms: percentile(bare, 99),
  deliveriesPerSecond: rate,
  bareRequestsPerSecond: bareRate,
  failed: failures.length,
  lost: lost + (accepted.size - ids.size),
  duplicated: afterReplay - stored + replayMismatches,
});

await deps.orchestrator.cancelRun({ namespace: "default", id: "blocker", run: blocker.id });
await gantry.stop();
rmSync(root, { recursive: true, force: true });
process.exit(lost === 0 && ids.size === accepted.size && afterReplay === stored && replayMismatches === 0 ? 0 : 1);
