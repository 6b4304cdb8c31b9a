// Git sources: what a sync costs beside the git commands it cannot do without, measured in the
// same run against a real git smart-HTTP server on 127.0.0.1 (git http-backend):
// - an unchanged poll (the branch did not move) against a bare `git ls-remote`;
// - a sync of one new commit that changed one of five pipeline files, against a bare
//   `git fetch` of that commit into a mirror (bundling and importing in the sandbox is the rest).
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createDeps } from "../app/deps.ts";
import { listPipelinesOf } from "../app/db/repos/pipelines.ts";
import { createGitRepo, startGitHttpServer } from "../test/helpers/git-server.ts";
import { benchConfig, benchRoot, median, ms } from "./shared.ts";

const ROUNDS = process.argv.includes("--quick") ? 5 : 15;
const FILES = 5;
const pipeline = (id: string, note: string) =>
  `import { definePipeline, run } from "gantry";\nexport default definePipeline({ id: "${id}", tasks: { a: run((ctx) => ctx.log("${note}")) } });\n`;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function git(args: string[], cwd?: string): Promise<void> {
  const child = Bun.spawn(["git", ...args], { cwd, stdout: "ignore", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", GIT_CONFIG_NOSYSTEM: "1" } });
  const [code, said] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`git ${args[0]} failed: ${said}`);
}

const { root, pipelinesDir } = benchRoot("sources");
// The sandbox user passes through the temp root to the data dir (mkdtemp makes it 0700).
chmodSync(root, 0o755);
const reposDir = join(root, "repos");
const repo = await createGitRepo(reposDir, "ops");
await repo.commit(Object.fromEntries(Array.from({ length: FILES }, (_, index) => [`.gantry/p${index}.ts`, pipeline(`p${index}`, "start")])));
const server = await startGitHttpServer(reposDir);
const url = `${server.url}/ops.git`;
const deps = await createDeps(benchConfig(root, pipelinesDir));
const bareMirror = join(root, "bare-mirror.git");
await git(["init", "--bare", "--quiet", bareMirror]);

try {
  // Adding a source starts its first sync; the one asked for here joins after it.
  const first = await timed(async () => {
    await deps.sources.save("ops", { repo: url, branch: "main", path: ".gantry", namespace: "ops", pollIntervalMs: 0 }, "bench");
    await deps.sources.sync("ops");
  });
  const loaded = await listPipelinesOf(deps.db, "ops");
  if (loaded.length !== FILES || loaded.some((row) => row.currentVersion === null)) throw new Error(`the first sync loaded ${JSON.stringify(loaded)}`);
  const unchanged: number[] = [];
  const lsRemote: number[] = [];
  const oneCommit: number[] = [];
  const fetchOnly: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    lsRemote.push(await timed(() => git(["ls-remote", url, "refs/heads/main"])));
    unchanged.push(
      await timed(async () => {
        if (!(await deps.sources.sync("ops")).unchanged) throw new Error("an unchanged branch synced as changed");
      }),
    );
    await repo.commit({ ".gantry/p0.ts": pipeline("p0", `round ${round}`) });
    fetchOnly.push(await timed(() => git(["-C", bareMirror, "fetch", "--quiet", "--no-tags", url, "+refs/heads/main:refs/heads/main"])));
    oneCommit.push(
      await timed(async () => {
        const outcome = await deps.sources.sync("ops");
        if (outcome.versions.length !== 1 || outcome.failures.length > 0) throw new Error(`one commit made ${JSON.stringify(outcome)}`);
      }),
    );
  }
  console.log(`git sources, ${ROUNDS} rounds, ${FILES} pipeline files, sandbox ${deps.sandbox.status.state} (${new Date().toISOString().slice(0, 10)})`);
  console.log(`  first sync (clone, load ${FILES} files):          ${ms(first)}`);
  console.log(`  unchanged poll: Gantry ${ms(median(unchanged))} median   bare git ls-remote ${ms(median(lsRemote))}   difference ${ms(median(unchanged) - median(lsRemote))}`);
  console.log(`  one new commit:  Gantry ${ms(median(oneCommit))} median   bare git fetch ${ms(median(fetchOnly))}   difference ${ms(median(oneCommit) - median(fetchOnly))}`);
  console.log(`    (the difference: ls-remote first, the folder written from objects, the changed file bundled and imported in the sandbox, its version stored)`);
} finally {
  await deps.sources.close();
  await deps.orchestrator.shutdown("cancel");
  deps.database.close();
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
