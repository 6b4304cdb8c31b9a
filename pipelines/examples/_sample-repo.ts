// The example CI pipelines' sample project as a git repository in the run's workspace: its
// files (sample-app/ beside this file) are inlined when a pipeline importing this is bundled,
// then committed with a fixed author and date, so the commit's sha is the same on every run.
import type { TaskContext } from "gantry";
import { readFolder } from "./_read-folder.ts" with { type: "macro" };

const SAMPLE_APP = readFolder("sample-app");

const SAMPLE_AUTHOR = {
  GIT_AUTHOR_NAME: "Gantry Example",
  GIT_AUTHOR_EMAIL: "example@gantry.invalid",
  GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
  GIT_COMMITTER_NAME: "Gantry Example",
  GIT_COMMITTER_EMAIL: "example@gantry.invalid",
  GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
};

/** Makes `sample-app.git` in the workspace: the sample in one commit on main, tagged v1.0.0. */
export async function publishSample(ctx: TaskContext): Promise<void> {
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
