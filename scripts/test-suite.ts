// The whole test suite in two phases, so it fits its time budget on a 2-core machine:
//   1. every file that does not make a Docker Swarm, two files at a time (most of their time
//      is spent waiting on servers, processes and the engine, not on the CPU);
//   2. the files that make a swarm, one after another and alone: a swarm is engine-wide state,
//      so they must not run beside each other or beside other Docker tests.
// A file makes a swarm when it uses test/helpers/swarm.ts. Extra arguments (a file, -t name)
// run plain `bun test` with them instead. Prints Bun's "N pass" / "N fail" for both phases
// together at the end, which .ci/run reads.
//
// Every test's temporary folders go into one folder of the suite's own (TMPDIR), removed at
// the end: tests that crash or are killed leave nothing behind in /tmp. A /tmp of tens of
// thousands of entries made every `bun` started under it ~12 ms slower (Bun lists the
// folders it resolves from), which skewed the benchmarks' bare floors.
import { Glob } from "bun";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";

const args = process.argv.slice(2);
// The bun running this script (npm's PATH has it too, a plain shell may not).
const BUN = process.execPath;
// Short, under /tmp: Unix socket paths made in it must stay under 108 bytes. Open to all, as
// /tmp is (sticky): the sandbox's user reads pipelines folders in it, and a server a test
// starts as another user makes its own temporary folders there.
const TEMP = mkdtempSync("/tmp/gantry-suite-");
chmodSync(TEMP, 0o1777);
const removeTemp = () => rmSync(TEMP, { recursive: true, force: true });
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    removeTemp();
    process.exit(130);
  });
}
const exit = (code: number) => {
  removeTemp();
  process.exit(code);
};
if (args.length > 0) exit(await run([BUN, "test", ...args]));

const PARALLEL = Number(process.env.GANTRY_TEST_PARALLEL ?? 2);
const IGNORED = /^pipelines\/examples\/sample-app\//;

const files = [...new Glob("{app,test,pipelines}/**/*.test.{ts,tsx}").scanSync({ dot: false })].filter((file) => !IGNORED.test(file)).sort();
const swarm: string[] = [];
const rest: string[] = [];
for (const file of files) (/helpers\/swarm\.ts/.test(await Bun.file(file).text()) ? swarm : rest).push(file);

const totals = { pass: 0, fail: 0 };
const started = Date.now();
console.log(`== ${rest.length} files, ${PARALLEL} at a time; then ${swarm.length} swarm files one by one`);
// Both phases run whatever the first's outcome: a failure in one says nothing of the other.
const first = await run([BUN, "test", `--parallel=${PARALLEL}`, ...rest.map((file) => `./${file}`)], totals);
const second = swarm.length > 0 ? await run([BUN, "test", ...swarm.map((file) => `./${file}`)], totals) : 0;
const status = first || second;
console.log(`\n== the whole suite: ${Math.round((Date.now() - started) / 1000)} s`);
console.log(` ${totals.pass} pass`);
console.log(` ${totals.fail} fail`);
exit(status);

/** Runs a command with its output shown, adding its "N pass" / "N fail" summary to `totals`. */
async function run(command: string[], totals?: { pass: number; fail: number }): Promise<number> {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe", env: { ...process.env, TMPDIR: TEMP } });
  const tail: string[] = [];
  const relay = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      out.write(text);
      tail.push(text);
      if (tail.length > 200) tail.shift();
    }
  };
  await Promise.all([relay(child.stdout, process.stdout), relay(child.stderr, process.stderr)]);
  const code = await child.exited;
  if (totals) {
    const text = tail.join("");
    totals.pass += Number([...text.matchAll(/^ *(\d+) pass$/gm)].at(-1)?.[1] ?? 0);
    totals.fail += Number([...text.matchAll(/^ *(\d+) fail$/gm)].at(-1)?.[1] ?? 0);
  }
  return code;
}
