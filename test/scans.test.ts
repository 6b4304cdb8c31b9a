// Security scans on a real server: the presets run the real scanners (eslint +
// eslint-plugin-security and secretlint from npm, Debian's flawfinder) in the run() sandbox
// on small sample files, their SARIF reports become findings that gate the task by failOn,
// broken, missing and symlinked reports fail it clearly, the findings API marks what is new
// since the last successful run, and the run and pipeline pages show them.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listRunFindings } from "../app/db/repos/findings.ts";
import type { TaskSpec } from "../app/domain/pipeline-spec.ts";
import { createFindingsCollector } from "../app/engine/task-files/findings.ts";
import { eslintSecurity, flawfinder, grype, scan, secretlint, semgrep, trivy } from "../app/sdk/index.ts";
import { readLog, startRun, startWithPipelines, waitForRun, type RunJson, type TestGantry } from "./helpers/gantry.ts";
import { sharedDir, tempDir } from "./helpers/temp.ts";
import { webLogin } from "./helpers/web.ts";

setDefaultTimeout(120_000);

// The secret secretlint must find is made when the test runs: no key-shaped text in this file.
const AWS_SECRET = Array.from(crypto.getRandomValues(new Uint8Array(40)), (byte) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[byte % 62]).join("");

const SAMPLES = {
  "src/app.js": "const fs = require('fs');\nfunction read(name) {\n  return fs.readFileSync(name);\n}\neval(process.argv[2]);\nmodule.exports = { read };\n",
  "src/copy.c": "#include <string.h>\nvoid copy(char *input) {\n  char buf[16];\n  strcpy(buf, input);\n}\n",
  "src/settings.ini": `[aws]\naws_secret_access_key = ${AWS_SECRET}\n`,
};

/** A SARIF report of one tool with these results. */
const sarif = (results: { rule: string; level: string; text: string; file?: string; line?: number }[]) =>
  JSON.stringify({
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "fake" } },
        results: results.map((result) => ({
          ruleId: result.rule,
          level: result.level,
          message: { text: result.text },
          locations: [{ physicalLocation: { artifactLocation: { uri: result.file ?? "src/a.js" }, region: { startLine: result.line ?? 1 } } }],
        })),
      },
    ],
  });

const LEVELS_REPORT = sarif([
  { rule: "W1", level: "warning", text: "a warning" },
  { rule: "N1", level: "note", text: "a note" },
]);

const HEADER = `import { definePipeline, run, scan, eslintSecurity, secretlint, flawfinder } from "gantry";\n`;
/** A generic scan() that writes the report in $REPORT. */
const fromEnv = (path: string, failOn: string, extra = "") =>
  `scan({ tool: "fake", command: 'printf "%s" "$REPORT" > ${path}', sarif: "${path}", failOn: "${failOn}"${extra} })`;

const PIPELINES = {
  "scans.ts": `${HEADER}
const samples = ${JSON.stringify(SAMPLES)};
export default definePipeline({
  id: "scans",
  tasks: {
    prepare: run(async (ctx) => {
      for (const [path, text] of Object.entries(samples)) await Bun.write(ctx.workspace + "/" + path, text);
    }),
    eslint: eslintSecurity({ paths: ["src"], failOn: "warning", needs: { prepare: "success" } }),
    secrets: secretlint({ paths: ["src"], needs: { prepare: "success" } }),
    c: flawfinder({ paths: ["src"], sarif: "reports/flawfinder.sarif", needs: { prepare: "success" } }),
    relaxed: eslintSecurity({ paths: ["src"], sarif: "reports/relaxed.sarif", needs: { prepare: "success" } }),
  },
});
`,
  "levels.ts": `${HEADER}
export default definePipeline({
  id: "levels",
  variables: { REPORT: ${JSON.stringify(LEVELS_REPORT)} },
  tasks: {
    error: ${fromEnv("error.sarif", "error")},
    warning: ${fromEnv("warning.sarif", "warning")},
    note: ${fromEnv("note.sarif", "note")},
    none: ${fromEnv("none.sarif", "none")},
  },
});
`,
  "broken.ts": `${HEADER}
export default definePipeline({
  id: "broken",
  tasks: {
    "no-runs": run(async (ctx) => { await Bun.write(ctx.workspace + "/noruns.sarif", JSON.stringify({ version: "2.1.0", runs: [] })); }, { sarif: { path: "noruns.sarif" } }),
    "not-json": run(async (ctx) => { await Bun.write(ctx.workspace + "/notjson.sarif", "<html>not a report</html>"); }, { sarif: { path: "notjson.sarif" } }),
    missing: run(() => {}, { sarif: { path: "reports/missing.sarif" } }),
    escape: run(async (ctx) => {
      const { symlinkSync } = await import("node:fs");
      symlinkSync(ctx.env.OUTSIDE, ctx.workspace + "/escape.sarif");
    }, { sarif: { path: "escape.sarif" } }),
    "no-report": scan({ tool: "quiet", command: "true", sarif: "quiet.sarif" }),
  },
});
`,
  "trend.ts": `${HEADER}
export default definePipeline({
  id: "trend",
  variables: { REPORT: "", FAIL: "0" },
  tasks: {
    scan: ${fromEnv("trend.sarif", "none")},
    verdict: run((ctx) => { if (ctx.env.FAIL === "1") throw new Error("failing on purpose"); }),
  },
});
`,
};

let gantry: TestGantry;
/** A valid SARIF file outside every workspace, that a symlink points at. */
let outside: string;

beforeAll(async () => {
  outside = join(sharedDir("gantry-outside-"), "elsewhere.sarif");
  writeFileSync(outside, sarif([{ rule: "X", level: "error", text: "read from outside" }]));
  gantry = await startWithPipelines(PIPELINES, { env: {} });
});
afterAll(() => gantry?.stop());

const api = (path: string, init?: RequestInit) => gantry.api(path, init);

async function runToEnd(pipeline: string, variables?: Record<string, string>): Promise<RunJson> {
  const started = await startRun(api, `default/${pipeline}`, variables);
  return waitForRun(api, `default/${pipeline}`, started.id, 100_000);
}

interface FindingJson {
  task: string;
  tool: string;
  ruleId: string | null;
  level: string;
  message: string;
  file: string | null;
  line: number | null;
  new: boolean;
}
interface FindingsJson {
  findings: FindingJson[];
  counts: { error: number; warning: number; note: number };
  since: number | null;
}

async function findingsOf(pipeline: string, run: number): Promise<FindingsJson> {
  const response = await api(`/pipelines/default/${pipeline}/runs/${run}/findings`);
  expect(response.status).toBe(200);
  return (await response.json()) as FindingsJson;
}

const task = (run: RunJson, id: string) => run.tasks.find((candidate) => candidate.id === id)!;

describe("presets on real scanners", () => {
  let run: RunJson;
  let found: FindingsJson;

  beforeAll(async () => {
    run = await runToEnd("scans");
    found = await findingsOf("scans", run.id);
  });

  it("eslintSecurity reports eslint-plugin-security's rules and fails at failOn warning", async () => {
    const eslint = found.findings.filter((finding) => finding.task === "eslint");
    expect(eslint.map((finding) => [finding.ruleId, finding.file, finding.line])).toEqual([
      ["security/detect-non-literal-fs-filename", "src/app.js", 3],
      ["security/detect-eval-with-expression", "src/app.js", 5],
    ]);
    expect(eslint.every((finding) => finding.tool === "ESLint" && finding.level === "warning")).toBe(true);
    expect(task(run, "eslint")).toMatchObject({ state: "failed", reason: "2 findings at or above warning: 2 warnings" });
    expect(await readLog(api, "default/scans", run.id, "eslint")).toContain("scan: 2 warnings (ESLint)");
    // The same warnings under failOn "error" (the default) pass.
    expect(task(run, "relaxed").state).toBe("successful");
    expect(found.findings.filter((finding) => finding.task === "relaxed")).toHaveLength(2);
  });

  it("secretlint finds the secret, stores it masked, and fails at the default failOn error", async () => {
    const secrets = found.findings.filter((finding) => finding.task === "secrets");
    expect(secrets).toHaveLength(1);
    expect(secrets[0]).toMatchObject({ tool: "secretlint", level: "error", file: "src/settings.ini", line: 2 });
    expect(secrets[0]!.ruleId).toContain("secretlint-rule-aws");
    expect(JSON.stringify(found)).not.toContain(AWS_SECRET);
    expect(task(run, "secrets")).toMatchObject({ state: "failed", reason: "1 finding at or above error: 1 error" });
  });

  it("flawfinder reports C risks with its levels, into a report in a folder", async () => {
    const c = found.findings.filter((finding) => finding.task === "c");
    expect(c.map((finding) => [finding.level, finding.file, finding.line, finding.ruleId])).toEqual([
      ["note", "src/copy.c", 3, "FF1013"],
      ["error", "src/copy.c", 4, "FF1001"],
    ]);
    expect(c[0]!.tool).toBe("Flawfinder");
    expect(task(run, "c")).toMatchObject({ state: "failed", reason: "1 finding at or above error: 1 error, 1 note" });
    expect(await readLog(api, "default/scans", run.id, "c")).toContain("scan: 1 error, 1 note (Flawfinder)");
  });

  it("counts the run's findings by level, all new on the first run", () => {
    expect(found.counts).toEqual({ error: 2, warning: 4, note: 1 });
    expect(found.since).toBeNull();
    expect(found.findings.every((finding) => finding.new)).toBe(true);
  });
});

describe("failOn", () => {
  it("fails a task only for findings at or above its level, counting them by level", async () => {
    const run = await runToEnd("levels");
    expect(task(run, "error").state).toBe("successful");
    expect(task(run, "warning")).toMatchObject({ state: "failed", reason: "1 finding at or above warning: 1 warning, 1 note" });
    expect(task(run, "note")).toMatchObject({ state: "failed", reason: "2 findings at or above note: 1 warning, 1 note" });
    expect(task(run, "none").state).toBe("successful");
    // A failing scan stores what it found too.
    expect((await findingsOf("levels", run.id)).counts).toEqual({ error: 0, warning: 4, note: 4 });
  });
});

describe("broken reports", () => {
  let run: RunJson;
  beforeAll(async () => {
    run = await runToEnd("broken", { OUTSIDE: outside });
  });

  it("fails a report with no runs, or one that is not JSON, saying why and where", () => {
    expect(task(run, "no-runs")).toMatchObject({ state: "failed", reason: "scan: the SARIF file noruns.sarif cannot be read: the SARIF file has no runs" });
    expect(task(run, "not-json").state).toBe("failed");
    expect(task(run, "not-json").reason).toStartWith("scan: the SARIF file notjson.sarif cannot be read: not JSON (");
  });

  it("fails a missing report, naming the path", () => {
    expect(task(run, "missing").state).toBe("failed");
    expect(task(run, "missing").reason).toStartWith("scan: the SARIF file reports/missing.sarif is missing");
    expect(task(run, "no-report")).toMatchObject({ state: "failed", reason: "threw: scan (quiet): the scanner exited with code 0 but wrote no report at quiet.sarif" });
  });

  it("refuses a report that is a symlink out of the workspace, and reads nothing from it", async () => {
    expect(task(run, "escape").state).toBe("failed");
    expect(task(run, "escape").reason).toStartWith("scan: the SARIF file escape.sarif was refused: it is a symlink");
    expect((await findingsOf("broken", run.id)).findings).toEqual([]);
    expect((run as RunJson & { findings?: unknown }).findings).toBeUndefined();
  });
});

describe("findings API", () => {
  const report = (...results: Parameters<typeof sarif>[0]) => sarif(results);
  const A = { rule: "A", level: "error", text: "issue A", file: "src/a.js" };
  const B = { rule: "B", level: "warning", text: "issue B", file: "src/b.js" };
  const C = { rule: "C", level: "note", text: "issue C", file: "src/c.js" };
  const D = { rule: "D", level: "warning", text: "issue D", file: "src/d.js" };

  it("marks as new what the last successful run before did not have, the line not counting", async () => {
    const first = await runToEnd("trend", { REPORT: report({ ...A, line: 3 }, B) });
    expect(first.state).toBe("successful");
    const firstFound = await findingsOf("trend", first.id);
    expect(firstFound.since).toBeNull();
    expect(firstFound.findings.map((finding) => [finding.ruleId, finding.new])).toEqual([
      ["A", true],
      ["B", true],
    ]);

    // A moved to line 30: the same finding. C is new.
    const second = await runToEnd("trend", { REPORT: report({ ...A, line: 30 }, C) });
    const secondFound = await findingsOf("trend", second.id);
    expect(secondFound).toEqual({
      findings: [
        { task: "scan", tool: "fake", ruleId: "A", level: "error", message: "issue A", file: "src/a.js", line: 30, new: false },
        { task: "scan", tool: "fake", ruleId: "C", level: "note", message: "issue C", file: "src/c.js", line: 1, new: true },
      ],
      counts: { error: 1, warning: 0, note: 1 },
      since: first.id,
    });
    // The run's JSON carries the counts too (a run whose scans found nothing has none: see broken reports).
    const secondJson = (await (await api(`/pipelines/default/trend/runs/${second.id}`)).json()) as { run: { findings?: unknown } };
    expect(secondJson.run.findings).toEqual({ error: 1, warning: 0, note: 1 });

    // A failed run is no baseline: D stays new in the run after it.
    const failed = await runToEnd("trend", { REPORT: report(D), FAIL: "1" });
    expect(failed.state).toBe("failed");
    const fourth = await runToEnd("trend", { REPORT: report(A, D) });
    const fourthFound = await findingsOf("trend", fourth.id);
    expect(fourthFound.since).toBe(second.id);
    expect(fourthFound.findings.map((finding) => [finding.ruleId, finding.new])).toEqual([
      ["A", false],
      ["D", true],
    ]);
  });

  it("checks runs:read before anything, and says when the run does not exist", async () => {
    const role = await api("/roles/no-runs", { method: "PUT", body: JSON.stringify({ permissions: [{ resource: "pipelines", target: ".*", actions: ["read"] }] }) });
    expect(role.status).toBeOneOf([200, 201]);
    const created = await api("/tokens", { method: "POST", body: JSON.stringify({ name: "no-runs", roles: ["no-runs"] }) });
    const { secret } = (await created.json()) as { secret: string };
    for (const run of [1, 999]) {
      const denied = await fetch(`${gantry.url}/api/v1/pipelines/default/trend/runs/${run}/findings`, { headers: { authorization: `Bearer ${secret}` } });
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { error: { message: string } }).error.message).toContain("runs:read on default/trend");
    }
    const missing = await api("/pipelines/default/trend/runs/999/findings");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe("run 999 of default/trend not found");
  });
});

describe("web pages", () => {
  it("show the run's findings grouped by level, new ones marked, linking to the task's log; and the counts in the run history", async () => {
    const first = await runToEnd("trend", { REPORT: sarif([{ rule: "A", level: "error", text: "issue A", file: "src/a.js" }]) });
    const second = await runToEnd("trend", {
      REPORT: sarif([
        { rule: "A", level: "error", text: "issue A", file: "src/a.js", line: 7 },
        { rule: "Z", level: "warning", text: "<b>issue Z</b>", file: "src/z.js", line: 12 },
      ]),
    });
    const web = await webLogin(gantry.url, gantry.token);
    const page = await (await web.get(`/pipelines/default/trend/runs/${second.id}`)).text();
    const section = page.slice(page.indexOf('id="findings"'), page.indexOf('id="run-logs-title"'));
    expect(section).toContain("Findings");
    expect(section.indexOf("finding-group-error")).toBeLessThan(section.indexOf("finding-group-warning"));
    expect(section).toContain(`href="/pipelines/default/trend/runs/${second.id}#task-scan"`);
    expect(section).toContain("src/z.js:12");
    expect(section).toContain("&lt;b&gt;issue Z&lt;/b&gt;");
    // Z is new since the first run; A is not.
    expect(section.match(/class="badge finding-new"/g)).toHaveLength(1);
    expect(section).toContain(`href="/pipelines/default/trend/runs/${first.id}#findings"`);
    const history = await (await web.get("/pipelines/default/trend")).text();
    expect(history).toContain(`href="/pipelines/default/trend/runs/${second.id}#findings"`);
    expect(history).toMatch(/1 error<\/span>, <span class="finding-count finding-level-warning">1 warning/);
  });
});

describe("collect", () => {
  // The collector on its own, on a run of the trend pipeline and a workspace of the test's.
  let key: { namespace: string; id: string; run: number };
  const spec = (path: string, failOn: "error" | "warning" | "note" | "none" = "error"): TaskSpec => ({
    id: "scan",
    kind: "run",
    needs: {},
    env: {},
    retries: 0,
    injectApiToken: false,
    sarif: { path, failOn },
  });

  beforeAll(async () => {
    const run = await runToEnd("trend", { REPORT: sarif([]) });
    key = { namespace: "default", id: "trend", run: run.id };
  });

  function context(workspace: string, path: string, lines: string[], failOn?: "error" | "warning" | "note" | "none") {
    return { key, task: spec(path, failOn), workspace, env: {}, log: (line: string) => lines.push(line) };
  }

  it("replaces what an earlier attempt stored, and logs a summary", async () => {
    const workspace = tempDir("gantry-scan-ws-");
    const collector = createFindingsCollector({ db: gantry.deps.db });
    const lines: string[] = [];
    writeFileSync(join(workspace, "r.sarif"), sarif([{ rule: "A", level: "error", text: "a" }, { rule: "B", level: "warning", text: "b" }]));
    expect(await collector.collect(context(workspace, "r.sarif", lines))).toEqual({ ok: false, reason: "1 finding at or above error: 1 error, 1 warning" });
    writeFileSync(join(workspace, "r.sarif"), sarif([{ rule: "C", level: "note", text: "c" }]));
    expect(await collector.collect(context(workspace, "r.sarif", lines))).toEqual({ ok: true });
    expect(lines).toEqual(["scan: 1 error, 1 warning (fake)", "scan: 1 note (fake)"]);
    expect((await listRunFindings(gantry.deps.db, key)).map((row) => row.ruleId)).toEqual(["C"]);
  });

  it("refuses a report reached through a symlinked folder, and one past the size limit", async () => {
    const workspace = tempDir("gantry-scan-ws-");
    const elsewhere = tempDir("gantry-scan-elsewhere-");
    writeFileSync(join(elsewhere, "r.sarif"), sarif([]));
    symlinkSync(elsewhere, join(workspace, "reports"));
    const collector = createFindingsCollector({ db: gantry.deps.db, maxBytes: 100 });
    const through = await collector.collect(context(workspace, "reports/r.sarif", []));
    expect(through.ok).toBe(false);
    expect(!through.ok && through.reason).toStartWith("scan: the SARIF file reports/r.sarif was refused: it is a symlink");
    mkdirSync(join(workspace, "big"));
    writeFileSync(join(workspace, "big", "r.sarif"), sarif([{ rule: "A", level: "note", text: "x".repeat(200) }]));
    const big = await collector.collect(context(workspace, "big/r.sarif", []));
    expect(!big.ok && big.reason).toMatch(/^scan: the SARIF file big\/r\.sarif is \d+ B, over the limit of 100 B$/);
  });

  it("stores at most the limit of findings but gates on all of them", async () => {
    const workspace = tempDir("gantry-scan-ws-");
    writeFileSync(join(workspace, "r.sarif"), sarif(Array.from({ length: 5 }, (_, i) => ({ rule: `R${i}`, level: "warning", text: `finding ${i}` }))));
    const lines: string[] = [];
    const result = await createFindingsCollector({ db: gantry.deps.db, maxStored: 3 }).collect(context(workspace, "r.sarif", lines, "warning"));
    expect(result).toEqual({ ok: false, reason: "5 findings at or above warning: 5 warnings" });
    expect(lines).toEqual(["scan: 5 warnings (fake)", "scan: stored the first 3 of 5 findings"]);
    expect(await listRunFindings(gantry.deps.db, key)).toHaveLength(3);
  });
});

describe("scan() and the container presets", () => {
  it("builds a container task, or a run() task, with the report to read", () => {
    const container = scan({ tool: "trivy", image: "aquasec/trivy:latest", command: "trivy fs --format sarif -o /workspace/t.sarif .", sarif: "t.sarif", needs: { build: "success" } });
    expect(container).toEqual({
      kind: "container",
      image: "aquasec/trivy:latest",
      command: ["sh", "-c", "trivy fs --format sarif -o /workspace/t.sarif ."],
      needs: { build: "success" },
      sarif: { path: "t.sarif", failOn: "error", tool: "trivy" },
    });
    const sandboxed = scan({ tool: "x", command: ["x", "--sarif"], sarif: "x.sarif", failOn: "none", network: "none" });
    expect(sandboxed).toMatchObject({ kind: "run", network: "none", sarif: { path: "x.sarif", failOn: "none", tool: "x" } });
    expect(typeof (sandboxed as { fn: unknown }).fn).toBe("function");
    expect(() => scan({ tool: "x", sarif: "x.sarif" })).toThrow("give a command (run in the sandbox) or an image (run as a container)");
    expect(() => scan({ tool: "x", command: "x", sarif: "x.sarif", memory: "1g" })).toThrow("memory apply to a container");
    expect(eslintSecurity().sarif).toEqual({ path: "eslint-security.sarif", failOn: "error", tool: "eslint" });
    expect(secretlint({ failOn: "warning" }).sarif).toEqual({ path: "secretlint.sarif", failOn: "warning", tool: "secretlint" });
    expect(flawfinder({ needs: { a: "success" } })).toMatchObject({ kind: "run", needs: { a: "success" } });
  });

  it("builds the documented commands of semgrep, trivy and grype", () => {
    expect(semgrep({ config: ["p/default", "p/secrets"], paths: ["src"] })).toEqual({
      kind: "container",
      image: "semgrep/semgrep:latest",
      command: ["semgrep", "scan", "--config", "p/default", "--config", "p/secrets", "--sarif", "--output", "/workspace/semgrep.sarif", "--metrics", "off", "src"],
      sarif: { path: "semgrep.sarif", failOn: "error", tool: "semgrep" },
    });
    expect(trivy({ image: "127.0.0.1:5000/app:1", severity: ["CRITICAL", "HIGH"], ignoreUnfixed: true, dockerSocket: true, failOn: "warning" })).toEqual({
      kind: "container",
      image: "aquasec/trivy:latest",
      entrypoint: ["trivy"],
      command: ["image", "--format", "sarif", "--output", "/workspace/trivy.sarif", "--exit-code", "0", "--severity", "CRITICAL,HIGH", "--ignore-unfixed", "127.0.0.1:5000/app:1"],
      mounts: [{ source: "/var/run/docker.sock", target: "/var/run/docker.sock", readonly: true }],
      sarif: { path: "trivy.sarif", failOn: "warning", tool: "trivy" },
    });
    expect(grype({ image: "alpine:3.20", onlyFixed: true, sarif: "reports/grype.sarif", pull: "always" })).toEqual({
      kind: "container",
      image: "anchore/grype:latest",
      entrypoint: ["/grype"],
      command: ["alpine:3.20", "-o", "sarif", "--file", "/workspace/reports/grype.sarif", "--only-fixed"],
      pull: "always",
      sarif: { path: "reports/grype.sarif", failOn: "error", tool: "grype" },
    });
  });
});
