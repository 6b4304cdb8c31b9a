// What a server loads to start, and what it leaves for first use: the web UI's pages, the
// sign-in client and the diff library are memory an idle server holds for requests it may
// never get (bench/README.md, idle memory). A static import of one of them from anywhere in
// the serving code brings it back; this test says so.
import { expect, it } from "bun:test";
import { relative } from "node:path";
import { REPO_ROOT } from "./helpers/temp.ts";

const LEFT_FOR_FIRST_USE = [/^app\/http\/web\/index\.ts$/, /^app\/http\/web\/pages\/run\.tsx$/, /^node_modules\/openid-client\//, /^node_modules\/oauth4webapi\//, /^node_modules\/diff\//, /^node_modules\/jose\/dist\/webapi\/index\.js$/];

it("leaves the web UI's pages, openid-client and jsdiff out of what a server loads to start", async () => {
  // A process of its own: this one may have loaded any of them for other tests.
  const child = Bun.spawn([process.execPath, "-e", 'await import("./app/cli/serve.ts"); await import("./app/start.ts"); console.log(JSON.stringify(Object.keys(require.cache)));'], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const loaded = (JSON.parse(out) as string[]).map((file) => relative(REPO_ROOT, file));
  // The graph was read: the server, its lazy pages' handler and the sign-in flows are in it.
  expect(loaded).toContain("app/server.ts");
  expect(loaded).toContain("app/http/web/lazy-pages.ts");
  expect(loaded).toContain("app/auth/oidc-sign-in.ts");
  expect(loaded).toContain("app/engine/pipelines/version-diff.ts");
  expect(loaded.filter((file) => LEFT_FOR_FIRST_USE.some((pattern) => pattern.test(file)))).toEqual([]);
});
