// Swarm executor benchmark: what a container() task costs on the swarm executor (a replicated
// job service) against the Docker executor (a container) and against the bare Engine API calls
// of each, measured in the same run; and a 50-task fan-out on the swarm against 50 bare jobs.
// Needs a Docker engine with local/busybox:latest (scripts/provision-test-env.sh); makes the
// engine a one-node swarm manager when it is not one, and leaves the swarm again afterwards.
// Never pulls. Usage: bun bench/swarm.ts [--quick]
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { createDeps, type Deps } from "../app/deps.ts";
import { createDockerClient, GANTRY_LABELS } from "../app/engine/executors/docker-client.ts";
import type { PipelineKey } from "../app/domain/pipeline-key.ts";
import { benchConfig, benchRoot, median, ms, timedRun } from "./shared.ts";

const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 5 : 12;
const WARMUP = 2;
const FANOUT = 50;
const IMAGE = "local/busybox:latest";
/** Marks the bare containers and services so a crashed bench leaves nothing unfindable. */
const BENCH_LABEL = "gantry.bench";
const ONE: PipelineKey = { namespace: "default", id: "bench-swarm-one" };
const FAN: PipelineKey = { namespace: "default", id: "bench-swarm-fanout" };

const task = (command: string[]) => `container({ image: ${JSON.stringify(IMAGE)}, command: ${JSON.stringify(command)}, pull: "never" })`;
const fanTasks = Array.from({ length: FANOUT }, (_, i) => `t${i}: ${task(["true"])}`).join(",\n  ");
/** A bench server's folder with the two pipelines. */
function benchServerRoot(name: string): { root: string; pipelinesDir: string } {
  const made = benchRoot(name);
  // The sandbox user imports pipeline code from here (as in bench/engine.ts).
  chmodSync(made.root, 0o755);
  writeFileSync(join(made.pipelinesDir, "one.ts"), `import { definePipeline, container } from "gantry";\nexport default definePipeline({ id: "${ONE.id}", tasks: { c: ${task(["true"])} } });\n`);
  writeFileSync(join(made.pipelinesDir, "fanout.ts"), `import { definePipeline, container } from "gantry";\nexport default definePipeline({ id: "${FAN.id}", parallelism: ${FANOUT}, tasks: {\n  ${fanTasks}\n} });\n`);
  return made;
}
const dockerRoot = benchServerRoot("swarm-docker-executor");
const swarmRoot = benchServerRoot("swarm-swarm-executor");

const { docker } = createDockerClient(process.env.GANTRY_DOCKER_HOST);
const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string }; ServerVersion?: string };
const joined = info.Swarm?.LocalNodeState !== "active";
if (joined) await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
// Two servers' worth of dependencies on separate data: the Docker executor and the swarm one.
const servers: Deps[] = [];

/** The same container through the Engine API directly: create, start, wait, remove. */
async function bareContainer(): Promise<number> {
  const started = performance.now();
  const container: Docker.Container = await docker.createContainer({ Image: IMAGE, Cmd: ["true"], Labels: { [BENCH_LABEL]: "true" } });
  await container.start();
  await container.wait();
  await container.remove();
  return performance.now() - started;
}

/** The same work as a replicated job through the Engine API directly: create, poll until complete, remove. */
async function bareJob(): Promise<number> {
  const started = performance.now();
  const name = `gantry-bench-${crypto.randomUUID().slice(0, 8)}`;
  const service = await docker.createService({
    Name: name,
    Labels: { [BENCH_LABEL]: "true" },
    TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: ["true"], Labels: { [BENCH_LABEL]: "true" } }, RestartPolicy: { Condition: "none" } },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  } as unknown as Docker.CreateServiceOptions);
  for (;;) {
    const tasks = (await docker.listTasks({ filters: { service: [name] } })) as { Status: { State: string } }[];
    if (tasks.some((one) => one.Status.State === "complete")) break;
    if (tasks.some((one) => ["failed", "rejected"].includes(one.Status.State))) throw new Error(`bare job ${name} failed`);
    await Bun.sleep(50);
  }
  await service.remove();
  return performance.now() - started;
}

async function series(label: string, sample: () => Promise<number>): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < SAMPLES; i++) values.push(await sample());
  console.log(`  ${label.padEnd(40)} median ${ms(median(values))}   (min ${ms(Math.min(...values))}, max ${ms(Math.max(...values))})`);
  return values;
}

try {
  const onDocker = await createDeps(benchConfig(dockerRoot.root, dockerRoot.pipelinesDir, { GANTRY_MAX_PARALLEL_TASKS: String(FANOUT) }));
  servers.push(onDocker);
  const onSwarm = await createDeps(benchConfig(swarmRoot.root, swarmRoot.pipelinesDir, { GANTRY_EXECUTOR: "swarm", GANTRY_MAX_PARALLEL_TASKS: String(FANOUT) }));
  servers.push(onSwarm);
  for (const deps of servers) {
    const failed = (await deps.loader.scan()).filter((outcome) => "issues" in outcome);
    if (failed.length > 0) throw new Error(`the bench's pipelines did not load: ${JSON.stringify(failed)}`);
  }
  console.log(`gantry swarm executor benchmark — ${cpus().length} cores, bun ${Bun.version}, Docker engine ${info.ServerVersion}${quick ? " (quick)" : ""}`);
  for (let i = 0; i < WARMUP; i++) {
    await bareContainer();
    await bareJob();
    await timedRun(onDocker, ONE);
    await timedRun(onSwarm, ONE);
  }
  console.log(`\none container() task running \`true\` (${SAMPLES} samples each, the floors measured in the same run)`);
  const bareC = await series("bare container create/start/wait/remove", bareContainer);
  const dockerRun = await series("gantry run, Docker executor", () => timedRun(onDocker, ONE));
  const bareJ = await series("bare replicated job create/complete/remove", bareJob);
  const swarmRun = await series("gantry run, swarm executor", () => timedRun(onSwarm, ONE));
  console.log(`  Docker executor over its floor:  ${ms(median(dockerRun) - median(bareC))} (ratio ${(median(dockerRun) / median(bareC)).toFixed(2)})`);
  console.log(`  swarm executor over its floor:   ${ms(median(swarmRun) - median(bareJ))} (ratio ${(median(swarmRun) / median(bareJ)).toFixed(2)})`);
  console.log(`  swarm executor over Docker's:    ${ms(median(swarmRun) - median(dockerRun))} per task`);

  console.log(`\n${FANOUT} container() tasks at once (one run, parallelism ${FANOUT}) on the swarm`);
  const bareFan = performance.now();
  await Promise.all(Array.from({ length: FANOUT }, () => bareJob()));
  const bareFanMs = performance.now() - bareFan;
  const fan = await timedRun(onSwarm, FAN);
  console.log(`  bare, ${FANOUT} replicated jobs at once        ${ms(bareFanMs)}`);
  console.log(`  gantry ${FANOUT}-task run, swarm executor      ${ms(fan)}   (ratio ${(fan / bareFanMs).toFixed(2)})`);
} finally {
  for (const deps of servers) {
    await deps.orchestrator.idle();
    deps.database.close();
  }
  const services = await docker.listServices({ filters: { label: [`${BENCH_LABEL}=true`] } });
  const ours = (await Promise.all([ONE, FAN].map((key) => docker.listServices({ filters: { label: [`${GANTRY_LABELS.pipeline}=${key.id}`] } })))).flat();
  for (const service of [...services, ...ours]) await docker.getService(service.ID).remove().catch(() => undefined);
  // A removed service's task containers linger (stopped) for a while: this bench's go now.
  const containers = (
    await Promise.all([`${BENCH_LABEL}=true`, ...[ONE, FAN].map((key) => `${GANTRY_LABELS.pipeline}=${key.id}`)].map((label) => docker.listContainers({ all: true, filters: { label: [label] } })))
  ).flat();
  for (const container of containers) await docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
  if (joined) {
    await Bun.sleep(1000);
    await docker.swarmLeave({ force: true });
    await docker.getNetwork("docker_gwbridge").remove().catch(() => undefined);
  }
  for (const made of [dockerRoot, swarmRoot]) rmSync(made.root, { recursive: true, force: true });
}
