// Every speed bench one after another (engine, server, hooks, containers, pages), then one
// table of issue 18's goals: each figure beside the bare floor its bench measured in the
// same run, OK or MISSED. The benches hand their figures over as a last `BENCH_JSON` line.
// Usage: bun bench/all.ts [--quick]   (the container bench needs Docker: run under the lock)
import { join } from "node:path";
import { cpus } from "node:os";

const passThrough = process.argv.slice(2);
const BENCHES = ["engine", "server", "hooks", "containers", "pages"] as const;
type Bench = (typeof BENCHES)[number];
type Figures = Record<string, number>;

/** Runs one bench with its output shown as it goes; its figures, or why there are none. */
async function runBench(name: Bench): Promise<Figures | string> {
  console.log(`\n===== bench/${name}.ts =====`);
  // The idle RSS is judged after minutes too: it grows back some as the server's code warms up again.
  const extra = name === "server" ? ["--idle-for", passThrough.includes("--quick") ? "30" : "120"] : [];
  const child = Bun.spawn([process.execPath, join(import.meta.dir, `${name}.ts`), ...passThrough, ...extra], { stdout: "pipe", stderr: "inherit" });
  let figures: Figures | undefined;
  let partial = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("BENCH_JSON ")) figures = JSON.parse(line.slice("BENCH_JSON ".length)) as Figures;
      else console.log(line);
    }
  }
  const code = await child.exited;
  if (!figures) return `no figures (exit ${code})`;
  if (code !== 0) return `exit ${code}: what it measures did not work`;
  return figures;
}

const results = {} as Record<Bench, Figures | string>;
const started = performance.now();
/** Between benches: what one leaves ending (its server's runners, containers, files) must not run into the next one's figures. */
const SETTLE_MS = 3_000;
for (const name of BENCHES) {
  if (name !== BENCHES[0]) await Bun.sleep(SETTLE_MS);
  results[name] = await runBench(name);
}

interface Row {
  goal: string;
  figure: string;
  floor: string;
  ok: boolean | undefined;
}

const f1 = (value: number) => value.toFixed(1);
/** One goal's row from its bench's figures; a bench that failed marks its rows so. */
function row(bench: Bench, goal: string, judge: (f: Figures) => Omit<Row, "goal">): Row {
  const figures = results[bench];
  if (typeof figures === "string") return { goal, figure: `(${bench}: ${figures})`, floor: "", ok: undefined };
  return { goal, ...judge(figures) };
}

const rows: Row[] = [
  row("server", "3-step run() pipeline via API: median ≤ 40 ms", (f) => ({
    figure: `${f1(f.threeStepApiMs!)} ms (p99 ${f1(f.threeStepApiP99Ms!)})`,
    floor: `3 bare bun: ${f1(f.bareThreeMs!)} ms`,
    ok: f.threeStepApiMs! <= 40,
  })),
  row("server", "3-step pipeline over 3 bare processes ≤ 15 ms", (f) => ({
    figure: `+${f1(f.threeStepApiMs! - f.bareThreeMs!)} ms`,
    floor: `3 bare bun: ${f1(f.bareThreeMs!)} ms`,
    ok: f.threeStepApiMs! - f.bareThreeMs! <= 15,
  })),
  row("engine", "one-task run over a bare process ≤ 5 ms", (f) => ({
    figure: `+${f1(f.overheadMs!)} ms (run ${f1(f.oneTaskMs!)} ms)`,
    floor: `bare bun: ${f1(f.bareMs!)} ms (in bwrap ${f1(f.bareInSandboxMs!)})`,
    ok: f.overheadMs! <= 5,
  })),
  row("server", "(same, through the API)", (f) => ({
    figure: `+${f1(f.oneTaskApiMs! - f.bareMs!)} ms (run ${f1(f.oneTaskApiMs!)} ms)`,
    floor: `bare bun: ${f1(f.bareMs!)} ms`,
    ok: f.oneTaskApiMs! - f.bareMs! <= 5,
  })),
  row("hooks", "webhook → run finished: median ≤ 15 ms", (f) => ({
    figure: `${f1(f.finishedMs!)} ms`,
    floor: `bare bun: ${f1(f.bareMs!)} ms`,
    ok: f.finishedMs! <= 15,
  })),
  row("hooks", "webhook → run finished: p99 ≤ 40 ms", (f) => ({
    figure: `${f1(f.finishedP99Ms!)} ms`,
    floor: `bare bun p99: ${f1(f.bareP99Ms!)} ms`,
    ok: f.finishedP99Ms! <= 40,
  })),
  row("engine", "one-task runs back to back ≥ 250/s", (f) => ({
    figure: `${f.runsPerSecond!.toFixed(0)} runs/s`,
    floor: `bare bun: ${f.bareProcessesPerSecond!.toFixed(0)}/s; in a bare bwrap: ${f.sandboxedProcessesPerSecond?.toFixed(0) ?? "?"}/s`,
    ok: f.runsPerSecond! >= 250,
  })),
  row("hooks", "webhook deliveries ≥ 1,000/s, 0 lost, 0 duplicated", (f) => ({
    figure: `${f.deliveriesPerSecond!.toFixed(0)}/s, ${f.lost} lost, ${f.duplicated} dup`,
    floor: `bare Bun.serve: ${f.bareRequestsPerSecond!.toFixed(0)}/s`,
    ok: f.deliveriesPerSecond! >= 1000 && f.lost === 0 && f.duplicated === 0 && f.failed === 0,
  })),
  row("containers", "container task ≤ 1.05× bare Docker API", (f) => ({
    figure: `${f.ratio!.toFixed(3)}× (${f1(f.containerTaskMs!)} ms)`,
    floor: `bare API: ${f1(f.bareMs!)} ms`,
    ok: f.ratio! <= 1.05,
  })),
  row("engine", "100-task run() fan-out ≤ 1 s", (f) => ({
    figure: `${f.fanoutMs!.toFixed(0)} ms`,
    floor: `100 bare bun, 32 at once: ${f.bareFanoutMs!.toFixed(0)} ms; in a bare bwrap: ${f.sandboxedFanoutMs?.toFixed(0) ?? "?"} ms`,
    ok: f.fanoutMs! <= 1000,
  })),
  row("server", "idle server RSS ≤ 80 MiB", (f) => ({
    figure: `${f1(f.idleRssMiB!)} MiB at 3 s (own ${f1(f.idleAnonMiB!)})${f.idleLaterRssMiB === undefined ? "" : `; up to ${f1(f.idleLaterRssMiB)} in ${f.idleForS} s more`}`,
    floor: `idle bare bun: ${f1(f.bareIdleRssMiB!)} MiB`,
    ok: Math.max(f.idleRssMiB!, f.idleLaterRssMiB ?? 0) <= 80,
  })),
  row("server", "server CPU per one-task run ≤ 20 ms", (f) => ({
    figure: `${f1(f.cpuPerRunOwnMs!)} ms (${f1(f.cpuPerRunTotalMs!)} with task)`,
    floor: `bare bun: ${f1(f.bareCpuMs!)} ms`,
    ok: f.cpuPerRunOwnMs! <= 20,
  })),
  ...(["dashboard", "pipeline page", "run page"] as const).map((page) =>
    row("pages", `${page} (10,000 runs, 100 pipelines) < 10 ms`, (f) => ({
      figure: `${f1(f[`${page}Ms`]!)} ms`,
      floor: `bare Bun.serve, same bytes: ${f1(f[`${page}BareMs`]!)} ms`,
      ok: f[`${page}Ms`]! < 10,
    })),
  ),
];

const widths = [
  Math.max(4, ...rows.map((r) => r.goal.length)),
  Math.max(8, ...rows.map((r) => r.figure.length)),
  Math.max(5, ...rows.map((r) => r.floor.length)),
];
const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
console.log(`\n===== issue 18 goals — ${cpus().length} cores, bun ${Bun.version}, ${new Date().toISOString().slice(0, 10)}, ${((performance.now() - started) / 1000).toFixed(0)} s =====`);
console.log(line(["goal", "measured", "floor", ""]));
for (const r of rows) console.log(line([r.goal, r.figure, r.floor, r.ok === undefined ? "—" : r.ok ? "OK" : "MISSED"]));
const missed = rows.filter((r) => r.ok === false).length;
console.log(`\n${rows.length - missed} of ${rows.length} met${missed ? `, ${missed} missed` : ""}`);
// Like the benches, a missed goal does not change the exit code; a bench that broke does.
process.exit(Object.values(results).some((figures) => typeof figures === "string") ? 1 : 0);
