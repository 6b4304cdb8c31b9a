import { describe, expect, it } from "bun:test";
import { container, cron, interval, run, secret } from "../sdk/index.ts";
import { toPipelineSpec, type SpecIssue, type PipelineSpec } from "./pipeline-spec.ts";

const noop = () => {};

function issuesOf(definition: unknown): SpecIssue[] {
  const result = toPipelineSpec(definition);
  if (result.ok) throw new Error(`expected issues, got a valid spec: ${JSON.stringify(result.spec)}`);
  return result.issues;
}

function specOf(definition: unknown): PipelineSpec {
  const result = toPipelineSpec(definition);
  if (!result.ok) throw new Error(`expected a valid spec, got ${JSON.stringify(result.issues)}`);
  return result.spec;
}

describe("toPipelineSpec", () => {
  it("fills defaults for a minimal pipeline", () => {
    const spec = specOf({ id: "hello", tasks: { greet: run(noop) } });
    expect(spec).toMatchObject({ id: "hello", name: "hello", description: "", variables: {}, triggers: [] });
    expect(spec.parallelism).toBeGreaterThan(0);
    expect(spec.tasks).toEqual([{ id: "greet", kind: "run", needs: {}, env: {}, retries: 0, injectApiToken: false }]);
  });

  it("keeps needs, env, retries and secrets as data", () => {
    const spec = specOf({
      id: "deploy",
      name: "Deploy",
      parallelism: 2,
      variables: { STAGE: "prod" },
      tasks: {
        build: run(noop),
        ship: run(noop, { needs: { build: "success" }, retries: 3, env: { TOKEN: secret("deploy_token"), MODE: "fast" } }),
      },
    });
    expect(spec.name).toBe("Deploy");
    expect(spec.parallelism).toBe(2);
    expect(spec.variables).toEqual({ STAGE: "prod" });
    const ship = spec.tasks.find((task) => task.id === "ship")!;
    expect(ship.needs).toEqual({ build: "success" });
    expect(ship.retries).toBe(3);
    expect(ship.env).toEqual({ TOKEN: { secret: "deploy_token" }, MODE: "fast" });
    // The function itself is not part of the stored spec.
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it("parses durations from milliseconds and strings", () => {
    const spec = specOf({
      id: "durations",
      triggers: [interval("5m"), cron("0 3 * * *")],
      tasks: {
        a: run(noop, { timeout: 250 }),
        b: run(noop, { timeout: "500ms" }),
        c: run(noop, { timeout: "1.5s" }),
        d: run(noop, { timeout: "2m" }),
        e: run(noop, { timeout: "1h" }),
        f: run(noop),
      },
    });
    const timeouts = Object.fromEntries(spec.tasks.map((task) => [task.id, task.timeoutMs]));
    expect(timeouts).toEqual({ a: 250, b: 500, c: 1500, d: 120_000, e: 3_600_000, f: undefined });
    expect(spec.triggers[0]).toEqual({ kind: "interval", every: 300_000 });
  });

  it("turns container limits into numbers", () => {
    const spec = specOf({ id: "box", tasks: { c: container({ image: "local/busybox:latest", memory: "256m", cpus: 0.5, command: ["true"] }) } });
    expect(spec.tasks[0]!.container).toEqual({
      image: "local/busybox:latest",
      pull: "if-missing",
      memoryBytes: 256 * 1024 * 1024,
      cpus: 0.5,
      command: ["true"],
      capabilities: [],
      mounts: [],
      keepContainer: false,
    });
  });

  it("rejects a bad id at path `id`", () => {
    const issues = issuesOf({ id: "Bad_Id", tasks: { a: run(noop) } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("id");
    expect(issues[0]!.message).toContain("a-z");
  });

  it("rejects a bad task id at its path", () => {
    const issues = issuesOf({ id: "ok", tasks: { "Build Step": run(noop) } });
    expect(issues.map((issue) => issue.path)).toEqual(["tasks.Build Step"]);
  });

  it("names an unknown key (a typo like `need`) and suggests the right one", () => {
    const issues = issuesOf({ id: "ok", tasks: { a: run(noop), b: { ...run(noop), need: { a: "success" } } } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("tasks.b.need");
    expect(issues[0]!.message).toContain('unknown key "need"');
    expect(issues[0]!.message).toContain('"needs"');
  });

  it("names an unknown top-level key", () => {
    const issues = issuesOf({ id: "ok", tasks: { a: run(noop) }, varables: {} });
    expect(issues[0]!.path).toBe("varables");
    expect(issues[0]!.message).toContain('did you mean "variables"');
  });

  it("rejects a bad duration at its path", () => {
    const issues = issuesOf({ id: "ok", tasks: { slow: run(noop, { timeout: "5 minutes" }) } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("tasks.slow.timeout");
    expect(issues[0]!.message).toContain("30s");
  });

  it("rejects a negative duration", () => {
    expect(issuesOf({ id: "ok", tasks: { a: run(noop, { timeout: -5 }) } })[0]!.path).toBe("tasks.a.timeout");
  });

  it("rejects a run task whose fn is not a function", () => {
    const issues = issuesOf({ id: "ok", tasks: { build: { kind: "run", fn: "echo hi" } } });
    expect(issues).toEqual([{ path: "tasks.build.fn", message: "must be a function" }]);
  });

  it("rejects a task that was not made with run() or container()", () => {
    const issues = issuesOf({ id: "ok", tasks: { build: { command: "make" } } });
    expect(issues[0]!.path).toBe("tasks.build.kind");
    expect(issues[0]!.message).toContain("run(");
  });

  it("rejects a pipeline without tasks", () => {
    expect(issuesOf({ id: "empty", tasks: {} })).toEqual([{ path: "tasks", message: "must define at least one task" }]);
    const missing = issuesOf({ id: "empty" });
    expect(missing).toHaveLength(1);
    expect(missing[0]!.path).toBe("tasks");
    expect(missing[0]!.message).toBe("is required");
  });

  it("explains a file without a default export", () => {
    const issues = issuesOf(undefined);
    expect(issues[0]!.message).toContain("default export");
  });

  it("rejects reserved GANTRY_* variable and env names, whatever their case", () => {
    const issues = issuesOf({
      id: "ok",
      variables: { GANTRY_RUN_ID: "7", FINE: "yes" },
      tasks: { a: run(noop, { env: { gantry_token: "x", OTHER: "y" } }) },
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual(["tasks.a.env.gantry_token", "variables.GANTRY_RUN_ID"]);
    for (const issue of issues) expect(issue.message).toContain("reserved");
  });

  it("rejects a variable that is not a string", () => {
    const issues = issuesOf({ id: "ok", variables: { COUNT: 3 }, tasks: { a: run(noop) } });
    expect(issues).toEqual([{ path: "variables.COUNT", message: "must be a string" }]);
  });

  it("reports DAG problems with their paths", () => {
    const issues = issuesOf({ id: "ok", tasks: { a: run(noop, { needs: { b: "success" } }), b: run(noop, { needs: { a: "any" } }) } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toStartWith("cycle: ");
    expect(issuesOf({ id: "ok", tasks: { a: run(noop, { needs: { nope: "success" } }) } })).toEqual([
      { path: "tasks.a.needs.nope", message: 'unknown task "nope"' },
    ]);
  });

  it("rejects a bad need condition", () => {
    const issues = issuesOf({ id: "ok", tasks: { a: run(noop), b: run(noop, { needs: { a: "succeeded" as never } }) } });
    expect(issues[0]!.path).toBe("tasks.b.needs.a");
    expect(issues[0]!.message).toContain('"success"');
  });
});
