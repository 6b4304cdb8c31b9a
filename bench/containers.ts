// Container benchmark: what a container() task costs over the bare Docker API calls for the
// same container, and a 20-container fan-out. Prints figures; goals are in bench/README.md.
// Needs a Docker engine with local/busybox:latest (scripts/provision-test-env.sh); never pulls.
// Usage: bun bench/containers.ts [--quick]
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { createDeps } from "../app/deps.ts";
import { benchConfig, benchRoot, median, ms, printFigures, timedRun } from "./shared.ts";
import { createDockerClient } from "../app/engine/executors/docker-client.ts";
import { GANTRY_LABELS } from "../app/engine/executors/docker-client.ts";
import type { PipelineKey } from "../app/domain/pipeline-key.ts";

const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 6 : 20;
const WARMUP = quick ? 2 : 3;
const FANOUT_REPEATS = quick ? 1 : 3;
const FANOUT = 20;

const IMAGE = "local/busybox:latest";
const COMMAND = ["true"];
/** Marks the bare containers so a crashed bench leaves nothing unfindable. */
const BENCH_LABEL = "gantry.bench";
// Pipeline ids no test uses, so the clean-up below only touches this bench's containers.
const ONE: PipelineKey = { namespace: "default", id: "bench-containers-one" };
const FAN: PipelineKey = { namespace: "default", id: "bench-containers-fanout" };

const { root, pipelinesDir } = benchRoot("containers");
// The sandbox user imports pipeline code from here (as in bench/engine.ts).
chmodSync(root, 0o755);

const task = `container({ image: ${JSON.stringify(IMAGE)}, command: ${JSON.stringify(COMMAND)}, network: "none", pull: "never" })`;
writeFileSync(
  join(pipelinesDir, "one.ts"),
  `import { definePipeline, container } from "gantry";\nexport default definePipeline({ id: "${ONE.id}", tasks: { c: ${task} } });\n`,
);
const fanTasks = Array.from(
  { length: FANOUT },
  (_, i) => `t${i}: container({ image: ${JSON.stringify(IMAGE)}, command: ["sleep", "1"], network: "none", pull: "never" })`,
).join(",\n  ");
writeFileSync(
  join(pipelinesDir, "fanout.ts"),
  `import { definePipeline, container } from "gantry";\nexport default definePipeline({ id: "${FAN.id}", parallelism: ${FANOUT}, tasks: {\n  ${fanTasks}\n} });\n`,
);

const config = benchConfig(root, pipelinesDir);
const deps = await createDeps(config);
await deps.loader.scan();
// Its own client, as another program calling the engine would have.
const { docker } = createDockerClient(config.dockerHost);

const engine = await deps.docker.health();
if (engine.status !== "ok") {
  console.error(`no Docker engine: ${engine.message} (run scripts/provision-test-env.sh)`);
  rmSync(root, { recursive: true, force: true });
  process.exit(1);
}
try {
  await docker.getImage(IMAGE).inspect();
} catch {
  console.error(`image ${IMAGE} is missing (run scripts/provision-test-env.sh; this bench never pulls)`);
  rmSync(root, { recursive: true, force: true });
  process.exit(1);
}

/** The same container through the Engine API directly: create, start, wait, remove. */
async function bareContainer(): Promise<number> {
  const started = performance.now();
  const container: Docker.Container = await docker.createContainer({
    Image: IMAGE,
    Cmd: COMMAND,
    Labels: { [BENCH_LABEL]: "true" },
    HostConfig: { NetworkMode: "none" },
  });
  await container.start();
  const result = (await container.wait()) as { StatusCode: number };
  await container.remove();
  if (result.StatusCode !== 0) throw new Error(`bare container exited with ${result.StatusCode}`);
  return performance.now() - started;
}

/** Resolves once the pipeline's runs have no container left. */
async function containersGone(pipeline: PipelineKey): Promise<void> {
  for (const until = Date.now() + 10_000; Date.now() < until; await Bun.sleep(5)) {
    if ((await docker.listContainers({ all: true, filters: { label: [`${GANTRY_LABELS.pipeline}=${pipeline.id}`] } })).length === 0) return;
  }
  throw new Error(`the containers of ${pipeline.id} were not removed within 10 s`);
}

/** The fan-out's containers through the Engine API directly, all at once. */
async function bareFanout(): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FANOUT }, async () => {
      const container = await docker.createContainer({
        Image: IMAGE,
        Cmd: ["sleep", "1"],
        Labels: { [BENCH_LABEL]: "true" },
        HostConfig: { NetworkMode: "none" },
      });
      await container.start();
      await container.wait();
      await container.remove();
    }),
  );
  return performance.now() - started;
}

try {
  console.log(
    `gantry container benchmark — ${cpus().length} cores, bun ${Bun.version}, Docker engine ${engine.version}${quick ? " (quick)" : ""}`,
  );

  // Warm up both paths (engine caches, the socket, first container of the image).
  for (let i = 0; i < WARMUP; i++) {
    await bareContainer();
    await timedRun(deps, ONE);
  }

  const bare: number[] = [];
  const gantry: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // Alternate so drift in machine or engine load hits both sides alike.
    bare.push(await bareContainer());
    gantry.push(await timedRun(deps, ONE));
    // A run ends once its task's end is recorded; its container is removed after that. The
    // next bare sample starts once it is gone, on an idle engine, as the one before it did.
    await containersGone(ONE);
  }
  const ratio = median(gantry) / median(bare);
  console.log(`\ncontainer() task against bare Docker API calls (${SAMPLES} alternating samples, ${IMAGE} ${JSON.stringify(COMMAND)}, network none)`);
  console.log(`  bare create/start/wait/remove  median ${ms(median(bare))}   (min ${ms(Math.min(...bare))}, max ${ms(Math.max(...bare))})`);
  console.log(`  gantry one-task run            median ${ms(median(gantry))}   (min ${ms(Math.min(...gantry))}, max ${ms(Math.max(...gantry))})`);
  console.log(`  ratio ${ratio.toFixed(3)}   overhead ${ms(median(gantry) - median(bare))}   (goal ratio ≤ 1.10) ${ratio <= 1.1 ? "OK" : "MISSED"}`);

  const fan: number[] = [];
  const bareFan: number[] = [];
  for (let i = 0; i < FANOUT_REPEATS; i++) {
    bareFan.push(await bareFanout());
    fan.push(await timedRun(deps, FAN));
    await containersGone(FAN);
  }
  console.log(`\n${FANOUT} containers running \`sleep 1\` at once (one run, parallelism ${FANOUT}, global limit ${config.maxParallelTasks})`);
  console.log(`  bare, ${FANOUT} concurrent create/start/wait/remove  ${bareFan.map((value) => ms(value)).join(", ")}   best ${ms(Math.min(...bareFan))}`);
  console.log(`  gantry ${FANOUT}-task run                          ${fan.map((value) => ms(value)).join(", ")}   best ${ms(Math.min(...fan))}`);

  printFigures({ bareMs: median(bare), containerTaskMs: median(gantry), ratio, bareFanoutMs: Math.min(...bareFan), fanoutMs: Math.min(...fan) });
} finally {
  await deps.orchestrator.idle();
  deps.database.close();
  // Nothing should be left, but a failed sample must not leave containers behind.
  const leftovers = await Promise.all(
    [`${BENCH_LABEL}=true`, `${GANTRY_LABELS.pipeline}=${ONE.id}`, `${GANTRY_LABELS.pipeline}=${FAN.id}`].map((label) =>
      docker.listContainers({ all: true, filters: { label: [label] } }),
    ),
  );
  for (const info of leftovers.flat()) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
