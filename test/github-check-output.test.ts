// The check run's title and summary at a run's end: failed tasks with why (capped), findings
// by level with the new ones, and the link to the run only when it is an absolute URL.
import { describe, expect, it } from "bun:test";
import { checkOutput } from "../extensions/github/index.ts";
import type { FinishedRun } from "../app/sdk/extension.ts";

const run = (overrides: Partial<FinishedRun>): FinishedRun => ({
  namespace: "default",
  pipeline: "api",
  run: 7,
  state: "failed",
  url: "https://ci.example.com/pipelines/default/api/runs/7",
  tasks: [],
  findings: { error: 0, warning: 0, note: 0, new: 0 },
  ...overrides,
});

describe("checkOutput", () => {
  it("lists the failed tasks with their reasons, one line each, and the findings", () => {
    const output = checkOutput(
      run({
        reason: "a task failed",
        tasks: [
          { id: "build", state: "successful" },
          { id: "test", state: "failed", reason: "exited with code 1" },
          { id: "lint", state: "failed", reason: "threw: two\nlines" },
          { id: "deploy", state: "skipped", reason: "needs test: success" },
        ],
        findings: { error: 2, warning: 1, note: 0, new: 1 },
      }),
    );
    expect(output.title).toBe("Run 7: failed (2 of 4 tasks failed)");
    expect(output.summary).toBe(
      [
        "Gantry run default/api#7 ended **failed**: a task failed.",
        "",
        "Failed tasks:",
        "- `test`: exited with code 1",
        "- `lint`: threw: two lines",
        "",
        "Findings: 2 errors, 1 warning, 0 notes (1 new).",
        "",
        "[The run in Gantry](https://ci.example.com/pipelines/default/api/runs/7)",
      ].join("\n"),
    );
  });

  it("caps the list and long reasons, and leaves out a link that is only a path", () => {
    const tasks = Array.from({ length: 25 }, (_, index) => ({ id: `t${index}`, state: "failed", reason: "x".repeat(400) }));
    const output = checkOutput(run({ tasks, url: "/pipelines/default/api/runs/7" }));
    expect(output.summary.split("\n").filter((line) => line.startsWith("- `"))).toHaveLength(20);
    expect(output.summary).toContain(`- \`t0\`: ${"x".repeat(300)}…`);
    expect(output.summary).toContain("- … and 5 more");
    expect(output.summary).not.toContain("The run in Gantry");
  });

  it("shows reasons as plain text: a fork's code cannot put links, images or markup in the summary", () => {
    const output = checkOutput(run({ reason: "internal error: *boom*", tasks: [{ id: "test", state: "failed", reason: "threw: see [here](https://evil.example) ![x](https://evil.example/x.png) <b>now</b>" }] }));
    expect(output.summary).toContain("ended **failed**: internal error: \\*boom\\*.");
    expect(output.summary).toContain("- `test`: threw: see \\[here\\]\\(https://evil.example\\) \\!\\[x\\]\\(https://evil.example/x.png\\) \\<b\\>now\\</b\\>");
    expect(output.summary).not.toContain("](https://evil");
  });

  it("says a successful run ended so, with nothing else to list", () => {
    const output = checkOutput(run({ state: "successful", tasks: [{ id: "build", state: "successful" }] }));
    expect(output).toEqual({ title: "Run 7: successful", summary: "Gantry run default/api#7 ended **successful**.\n\n[The run in Gantry](https://ci.example.com/pipelines/default/api/runs/7)" });
  });
});
