// The five pipelines the kill -9 harness runs, as source written into the server's pipelines
// folder. Every task body appends a marker when it starts, one line per execution, so the
// checks can count how often a task really ran against its retries.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

type Need = "success" | "failure" | "any";
export interface TaskDef {
  kind: "run" | "container";
  retries: number;
  needs?: Record<string, Need>;
  /** run(): statements after the marker, with `ctx` and `pause(min, max)` in scope. */
  body?: string;
  /** container(): a sh script after the marker. */
  sh?: string;
}
export interface PipelineDef {
  name: string;
  /** Extra top-level fields of definePipeline, as source. */
  extra?: string;
  tasks: Record<string, TaskDef>;
}

const IMAGE = "local/busybox:latest";
export const STREAM_LINES = 8;
export const HOOK_SECRET = "kill-harness-hook-secret";

export const PIPELINES: PipelineDef[] = [
  {
    // run() tasks with and without retries; the first attempt of `first` fails now and then by itself.
    name: "flaky",
    tasks: {
      first: { kind: "run", retries: 2, body: `await pause(100, 500); if (ctx.attempt === 1 && Math.random() < 0.3) throw new Error("first attempt fails on purpose");` },
      second: { kind: "run", retries: 0, needs: { first: "success" }, body: "await pause(50, 300);" },
      third: { kind: "run", retries: 1, needs: { first: "success" }, body: "await pause(100, 400);" },
    },
  },
  {
    // A DAG with conditions: the run's OUTCOME variable decides which branch runs.
    name: "dag",
    extra: `variables: { OUTCOME: "ok" },`,
    tasks: {
      decide: { kind: "run", retries: 0, body: `await pause(100, 300); if (ctx.env.OUTCOME === "fail") throw new Error("told to fail");` },
      passed: { kind: "run", retries: 0, needs: { decide: "success" }, body: "await pause(50, 200);" },
      recover: { kind: "container", retries: 0, needs: { decide: "failure" }, sh: "sleep 0.2; echo handled" },
      wrapup: { kind: "run", retries: 0, needs: { passed: "any", recover: "any" }, body: "await pause(20, 100);" },
    },
  },
  {
    // Containers: one streams numbered lines (its log is checked line by line), one fails its first attempt on purpose.
    name: "box",
    tasks: {
      stream: { kind: "container", retries: 0, sh: `i=1; while [ $i -le ${STREAM_LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done` },
      again: { kind: "container", retries: 1, sh: `if [ -f /workspace/.again-failed ]; then echo ok; else touch /workspace/.again-failed; echo "failing once"; exit 3; fi` },
      after: { kind: "run", retries: 0, needs: { stream: "success", again: "success" }, body: "await pause(20, 100);" },
    },
  },
  {
    // One run at a time: the rest wait queued, across kills.
    name: "queue",
    extra: "concurrency: { limit: 1 },",
    tasks: {
      hold: { kind: "run", retries: 1, body: "await pause(200, 600);" },
      tail: { kind: "container", retries: 0, needs: { hold: "success" }, sh: "echo tail" },
    },
  },
  {
    // Started by signed webhook deliveries; the delivery id comes along as a variable.
    name: "hook",
    extra: `triggers: [webhook({ secret: secret("hook_secret"), variables: { DELIVERY: "delivery", NONCE: "nonce" } })],`,
    tasks: {
      receive: { kind: "run", retries: 0, body: "await pause(50, 250);" },
      ack: { kind: "container", retries: 0, needs: { receive: "success" }, sh: `echo "delivery $DELIVERY"` },
    },
  },
];

/** The pipelines the driver starts over the API, with their weights. */
export const API_PIPELINES: [string, number][] = [
  ["flaky", 3],
  ["dag", 3],
  ["box", 3],
  ["queue", 2],
];
/** Queued runs pile up behind the limit: keep at most this many of them unfinished. */
export const MAX_QUEUE_OUTSTANDING = 3;

/** The signature header's value for a delivery to the `hook` pipeline. */
export function hmac(secret: string, body: string): string {
  return `sha256=${new Bun.CryptoHasher("sha256", secret).update(body).digest("hex")}`;
}

function pipelineSource(prefix: string, def: PipelineDef, marksFile: string): string {
  const tasks = Object.entries(def.tasks).map(([id, task]) => {
    const options = [`retries: ${task.retries}`, ...(task.needs ? [`needs: ${JSON.stringify(task.needs)}`] : [])];
    if (task.kind === "run") {
      return `    ${id}: run(async (ctx) => { mark(ctx); ${task.body ?? ""} }, { ${options.join(", ")} }),`;
    }
    const script = `echo "$GANTRY_TASK_ID" >> /workspace/.marks; ${task.sh ?? ""}`;
    return `    ${id}: container({ image: "${IMAGE}", command: ["sh", "-c", ${JSON.stringify(script)}], network: "none", pull: "never", ${options.join(", ")} }),`;
  });
  return `import { definePipeline, container, run, secret, webhook } from "gantry";
import { appendFileSync } from "node:fs";
// One line per execution of a run() task body, in a file outside the data dir: "<pipeline> <run> <task> <attempt>".
const mark = (ctx: { env: Record<string, string | undefined>; attempt: number }) =>
  appendFileSync(${JSON.stringify(marksFile)}, \`\${ctx.env.GANTRY_PIPELINE_ID} \${ctx.env.GANTRY_RUN_ID} \${ctx.env.GANTRY_TASK_ID} \${ctx.attempt}\\n\`);
const pause = (min: number, max: number) => Bun.sleep(min + Math.random() * (max - min));
export default definePipeline({
  id: "${prefix}${def.name}",
  ${def.extra ?? ""}
  tasks: {
${tasks.join("\n")}
  },
});
`;
}

/** Writes every pipeline into `pipelinesDir`, their ids starting with `prefix`. */
export function writePipelines(pipelinesDir: string, prefix: string, marksFile: string): void {
  for (const def of PIPELINES) writeFileSync(join(pipelinesDir, `${def.name}.ts`), pipelineSource(prefix, def, marksFile));
}
