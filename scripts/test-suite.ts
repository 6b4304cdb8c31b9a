// The whole test suite in two phases, so it fits its time budget on a 2-core machine:
//   1. the files that make a Docker Swarm, one after another (a swarm is engine-wide state, so
//      they must not run beside each other or beside other Docker tests), and beside them the
//      files that never reach the Docker engine, two at a time;
//   2. the other files that use the Docker engine, two at a time.
// Most of a test's time is spent waiting on servers, processes and the engine, not on the CPU,
// and the swarm files mostly wait for services to converge: three files at once on 2 cores.
//
// A file makes a swarm when it uses test/helpers/swarm.ts. It uses Docker when it says so
// (docker, a container, an image; a file that only reads the engine's health says so in a
// comment). The others run with their test servers' Docker host (GANTRY_TEST_DOCKER_HOST, see
// test/helpers/gantry.ts), GANTRY_DOCKER_HOST and DOCKER_HOST naming a socket that does not
// exist, so a file that runs a container anyway fails, saying where it looked, instead of
// touching the swarm. (A command a test starts with an environment of its own does not get
// them; none of those in that group touches Docker.)
//
// Extra arguments (a file, -t name) run plain `bun test` with them instead. Prints Bun's
// "N pass" / "N fail" for all of it together at the end, which .ci/run reads.
//
// Every test's temporary folders go into one folder of the suite's own (TMPDIR), removed at
// the end: tests that crash or are killed leave nothing behind in /tmp. A /tmp of tens of
// thousands of entries made every `bun` started under it ~12 ms slower (Bun lists the
// folders it resolves from), which skewed the benchmarks' bare floors.
import { Glob } from "bun";
import Docker from "dockerode";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { leaveSwarm, swarmState } from "../test/helpers/swarm.ts";

const args = process.argv.slice(2);
// The bun running this script (npm's PATH has it too, a plain shell may not).
const BUN = process.execPath;
// Short, under /tmp: Unix socket paths made in it must stay under 108 bytes. Open to all, as
// /tmp is (sticky): the sandbox's user reads pipelines folders in it, and a server a test
// starts as another user makes its own temporary folders there.
const TEMP = mkdtempSync("/tmp/gantry-suite-");
chmodSync(TEMP, 0o1777);
const removeTemp = () => rmSync(TEMP, { recursive: true, force: true });
/** The `bun test` processes running now: a signal to the suite reaches them too. */
const children = new Set<Bun.Subprocess>();
for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
  process.on(signal, async () => {
    for (const child of children) child.kill(signal);
    await Promise.race([Promise.all([...children].map((child) => child.exited)), Bun.sleep(10_000)]);
    removeTemp();
    process.exit(128 + number);
  });
}
const exit = (code: number) => {
  removeTemp();
  process.exit(code);
};
if (args.length > 0) exit(await run([BUN, "test", ...args]));

const PARALLEL = Number(process.env.GANTRY_TEST_PARALLEL ?? 2);
const IGNORED = /^pipelines\/examples\/sample-app\//;
/** What a file that uses the Docker engine says: its images, containers, the engine itself. */
const USES_DOCKER = /docker|container|image/i;
/** Where the files beside the swarm find "Docker": nowhere, named so its errors explain themselves. */
const NO_DOCKER = "unix:///nonexistent/no-docker-beside-the-swarm/docker.sock";

const files = [...new Glob("{app,test,pipelines}/**/*.test.{ts,tsx}").scanSync({ dot: false })].filter((file) => !IGNORED.test(file)).sort();
const swarm: string[] = [];
const docker: string[] = [];
const noDocker: string[] = [];
for (const file of files) {
  const source = await Bun.file(file).text();
  (/helpers\/swarm\.ts/.test(source) ? swarm : USES_DOCKER.test(source) ? docker : noDocker).push(file);
}
const paths = (list: string[]) => list.map((file) => `./${file}`);

const totals = { pass: 0, fail: 0 };
const started = Date.now();
console.log(`== ${swarm.length} swarm files one by one, beside ${noDocker.length} files without Docker, ${PARALLEL} at a time; then ${docker.length} Docker files, ${PARALLEL} at a time`);
// Every part runs whatever another's outcome: a failure in one says nothing of the others.
// The swarm's lines are prefixed, as they come between the others'.
const engine = new Docker({ socketPath: "/var/run/docker.sock" });
const swarmBefore = await swarmState(engine);
const [first, beside] = await Promise.all([
  swarm.length > 0 ? run([BUN, "test", ...paths(swarm)], { totals, prefix: "swarm │ " }) : 0,
  noDocker.length > 0 ? run([BUN, "test", `--parallel=${PARALLEL}`, ...paths(noDocker)], { totals, env: { GANTRY_TEST_DOCKER_HOST: NO_DOCKER, GANTRY_DOCKER_HOST: NO_DOCKER, DOCKER_HOST: NO_DOCKER } }) : 0,
]);
const firstPhase = Math.round((Date.now() - started) / 1000);
const leftSwarm = swarmBefore === "inactive" && (await swarmState(engine)) === "active" ? await leaveLeftSwarm() : 0;
const second = docker.length > 0 ? await run([BUN, "test", `--parallel=${PARALLEL}`, ...paths(docker)], { totals }) : 0;
const status = first || beside || leftSwarm || second;
const whole = Math.round((Date.now() - started) / 1000);
console.log(`\n== the whole suite: ${whole} s (swarm and no-Docker files ${firstPhase} s, Docker files ${whole - firstPhase} s)`);
console.log(` ${totals.pass} pass`);
console.log(` ${totals.fail} fail`);
exit(status);

/**
 * A swarm file that died before its clean-up (test/helpers/swarm.ts restores the engine) left
 * the engine a swarm manager: the Docker files must not run on it. Leaves it, and fails the suite.
 */
async function leaveLeftSwarm(): Promise<number> {
  console.error("\n== a swarm file left the engine a swarm manager (it did not get to its clean-up): leaving the swarm before the Docker files");
  await leaveSwarm(engine).catch((error: Error) => console.error(`leaving the swarm failed: ${error.message}`));
  return 1;
}

/**
 * Runs a command with its output shown line by line (each line after `prefix`), adding its
 * "N pass" / "N fail" summary to `totals`.
 */
async function run(command: string[], options: { totals?: { pass: number; fail: number }; prefix?: string; env?: Record<string, string> } = {}): Promise<number> {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe", env: { ...process.env, TMPDIR: TEMP, ...options.env } });
  children.add(child);
  const tail: string[] = [];
  const relay = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    let partial = "";
    const write = (lines: string) => {
      // `lines` ends with its newline: the prefix goes before each line, none after the last.
      out.write(options.prefix ? `${options.prefix}${lines.slice(0, -1).replaceAll("\n", `\n${options.prefix}`)}\n` : lines);
      tail.push(lines);
      if (tail.length > 200) tail.shift();
    };
    for await (const chunk of stream) {
      // Whole lines only, so two commands' output never mixes within a line.
      const text = partial + decoder.decode(chunk, { stream: true });
      const end = text.lastIndexOf("\n") + 1;
      partial = text.slice(end);
      if (end > 0) write(text.slice(0, end));
    }
    partial += decoder.decode();
    if (partial) write(`${partial}\n`);
  };
  await Promise.all([relay(child.stdout, process.stdout), relay(child.stderr, process.stderr)]);
  const code = await child.exited;
  children.delete(child);
  if (options.totals) {
    const text = tail.join("");
    options.totals.pass += Number([...text.matchAll(/^ *(\d+) pass$/gm)].at(-1)?.[1] ?? 0);
    options.totals.fail += Number([...text.matchAll(/^ *(\d+) fail$/gm)].at(-1)?.[1] ?? 0);
  }
  return code;
}
