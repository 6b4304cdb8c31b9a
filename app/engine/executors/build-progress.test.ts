import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { buildFailureReason, createBuildProgress } from "./build-progress.ts";
import { decodeTrace } from "./buildkit-trace.ts";
import { dockerignoreMatcher } from "./build-context.ts";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "test", "fixtures");

/** Feeds a recorded POST /build answer (one JSON message a line) through the progress reader. */
async function replay(file: string) {
  const lines: string[] = [];
  const progress = createBuildProgress((stream, text) => lines.push(stream === "out" ? text : `[${stream}] ${text}`));
  for (const line of (await Bun.file(join(FIXTURES, file)).text()).split("\n")) if (line.trim()) progress.message(JSON.parse(line));
  progress.end();
  return { lines, progress };
}

describe("the BuildKit trace", () => {
  it("decodes steps with their names, times, cache hits and errors, and their output", async () => {
    const messages = (await Bun.file(join(FIXTURES, "buildkit-build-failed.jsonl")).text()).split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const statuses = messages.filter((m) => m.id === "moby.buildkit.trace").map((m) => decodeTrace(m.aux));
    const names = new Set(statuses.flatMap((s) => s.vertexes.map((v) => v.name)));
    expect(names).toContain("[4/4] RUN echo failing && exit 3");
    const failed = statuses.flatMap((s) => s.vertexes).find((v) => v.error);
    expect(failed).toMatchObject({ name: "[4/4] RUN echo failing && exit 3", error: "executor failed running [/bin/sh -c echo failing && exit 3]: exit code: 3" });
    expect(failed!.completed! - failed!.started!).toBeGreaterThanOrEqual(0);
    const output = statuses.flatMap((s) => s.logs).map((log) => new TextDecoder().decode(log.data));
    expect(output).toEqual(["hello\n", "built\n", "failing\n"]);
  });

  it("reads as steps, their output and the step that failed", async () => {
    const { lines, progress } = await replay("buildkit-build-failed.jsonl");
    expect(lines).toEqual([
      "#1 [internal] load remote build context",
      "#1 DONE 0.0s",
      "#2 copy /context /",
      "#2 CACHED",
      "#3 [internal] load metadata for docker.io/local/busybox:latest",
      "#3 DONE 0.0s",
      "#4 [1/4] FROM docker.io/local/busybox:latest",
      "#4 DONE 0.0s",
      "#5 [2/4] COPY a.txt /a.txt",
      "#5 DONE 0.0s",
      "#6 [3/4] RUN cat /a.txt && echo built",
      "#6 hello",
      "#6 built",
      "#6 DONE 0.2s",
      "#7 [4/4] RUN echo failing && exit 3",
      "#7 failing",
      "[err] #7 ERROR: executor failed running [/bin/sh -c echo failing && exit 3]: exit code: 3",
    ]);
    expect(progress.usedBuildKit()).toBe(true);
    expect(buildFailureReason(progress.failure()!)).toBe(
      "image build failed at step [4/4] RUN echo failing && exit 3: executor failed running [/bin/sh -c echo failing && exit 3]: exit code: 3",
    );
    expect(progress.failure()!.output).toEqual(["failing"]);
  });

  it("falls back to the classic builder's stream, its step and output", async () => {
    const { lines, progress } = await replay("classic-build-failed.jsonl");
    expect(lines).toContain("Step 4/4 : RUN echo failing && exit 3");
    expect(lines.at(-1)).toBe("[err] ERROR: The command '/bin/sh -c echo failing && exit 3' returned a non-zero code: 3");
    expect(progress.usedBuildKit()).toBe(false);
    expect(progress.failure()).toEqual({
      step: "Step 4/4 : RUN echo failing && exit 3",
      error: "The command '/bin/sh -c echo failing && exit 3' returned a non-zero code: 3",
      output: ["failing"],
    });
  });
});

describe(".dockerignore", () => {
  it("matches as the docker CLI does: folders cover their content, ** spans folders, ! takes back, last match wins", () => {
    const ignore = dockerignoreMatcher("# comment\nnode_modules\n*.log\n!keep.log\n**/*.tmp\n/build/\ndocs/*.md\n!docs/README.md\n");
    const excluded = ["node_modules", "node_modules/x/index.js", "a.log", "deep/x.tmp", "x.tmp", "build/out.js", "docs/guide.md"];
    const kept = ["keep.log", "src/a.log", "src/index.ts", "docs/README.md", "docs/sub/guide.md", "builder/x"];
    for (const path of excluded) expect([path, ignore.excludes(path)]).toEqual([path, true]);
    for (const path of kept) expect([path, ignore.excludes(path)]).toEqual([path, false]);
    expect(ignore.hasExceptions).toBe(true);
  });
});
