// The first steps of a CI pipeline: check a project out, then test and build it in parallel.
// The project is the sample shipped beside this file (sample-app/). A run() task sees only the
// run's workspace, so the first task publishes the sample there as a git repository; with a
// repository of your own, drop that task and point checkout() at it ("owner/name", a URL).
// Start it with -v BRANCH=v1.0.0 to check out the tag instead of the branch.
import { checkout, definePipeline, run, type TaskContext } from "gantry";
import { readFolder } from "./_read-folder.ts" with { type: "macro" };

/** The sample project's files, inlined when this file is bundled. */
const SAMPLE_APP = readFolder("sample-app");

/** Who makes the sample's commit, and when: fixed, so its sha is the same on every run. */
const SAMPLE_AUTHOR = {
  GIT_AUTHOR_NAME: "Gantry Example",
  GIT_AUTHOR_EMAIL: "example@gantry.invalid",
  GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
  GIT_COMMITTER_NAME: "Gantry Example",
  GIT_COMMITTER_EMAIL: "example@gantry.invalid",
  GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
};

/** Makes `sample-app.git` in the workspace: the sample in one commit on main, tagged v1.0.0. */
async function publishSample(ctx: TaskContext): Promise<void> {
  // Made in the task's own temp folder, so only the bare repository lands in the workspace.
  const work = `${ctx.env.TMPDIR || "/tmp"}/sample-app-${crypto.randomUUID()}`;
  const bare = `${ctx.workspace}/sample-app.git`;
  for (const [path, text] of Object.entries(SAMPLE_APP)) await Bun.write(`${work}/${path}`, text);
  // No one's ~/.gitconfig: the commit, and so its sha, depends on the files alone.
  const env = { ...ctx.env, ...SAMPLE_AUTHOR, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
  const git = (args: string[]) => ctx.$`git ${args}`.env(env).quiet();
  await git(["init", "-q", "-b", "main", work]);
  await git(["-C", work, "add", "--all"]);
  await git(["-C", work, "commit", "-q", "-m", "Sample app"]);
  await git(["-C", work, "tag", "v1.0.0"]);
  // Again on a retry: the repository is made anew.
  await ctx.$`rm -rf ${bare}`;
  await git(["clone", "-q", "--bare", work, bare]);
  const sha = (await git(["-C", bare, "rev-parse", "main"])).stdout.toString().trim();
  ctx.log(`published ${Object.keys(SAMPLE_APP).length} files as ${bare} (main and v1.0.0 at ${sha})`);
}

/** Runs Bun (the one running this task) in the checked-out project. */
const bun = (ctx: TaskContext, args: string[]) => ctx.$`${process.execPath} ${args}`.cwd(`${ctx.workspace}/app`);

export default definePipeline({
  id: "ci-checkout",
  name: "CI: checkout",
  description: "Checks out the sample app, then tests and builds it",
  variables: { BRANCH: "main" },
  tasks: {
    publish: run(publishSample),
    checkout: checkout({
      // ${VAR} takes the task's environment: here the run's workspace, and the branch variable.
      repo: "file://${GANTRY_WORKSPACE}/sample-app.git",
      ref: "${BRANCH}",
      depth: 1,
      into: "app",
      needs: { publish: "success" },
    }),
    test: run(
      async (ctx) => {
        await bun(ctx, ["test"]);
      },
      { needs: { checkout: "success" } },
    ),
    build: run(
      async (ctx) => {
        await bun(ctx, ["run", "build"]);
        ctx.log(`built app/dist/app.js (${Bun.file(`${ctx.workspace}/app/dist/app.js`).size} bytes)`);
      },
      { needs: { checkout: "success" } },
    ),
  },
});
