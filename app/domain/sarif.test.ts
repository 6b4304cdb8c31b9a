import { describe, expect, it } from "bun:test";
import { countByLevel, countsText, failing, failureReason, fingerprintOf, parseSarif, relativeFile, SarifError, scanSummary } from "./sarif.ts";

const sarif = (runs: unknown[]) => JSON.stringify({ version: "2.1.0", runs });

const eslintRun = {
  tool: {
    driver: {
      name: "ESLint",
      rules: [
        { id: "security/detect-eval-with-expression", defaultConfiguration: { level: "error" } },
        { id: "security/detect-non-literal-regexp" },
      ],
    },
  },
  artifacts: [{ location: { uri: "file:///work/ws/src/app.js" } }],
  results: [
    {
      level: "warning",
      ruleId: "security/detect-non-literal-regexp",
      message: { text: "Found non-literal argument to RegExp Constructor" },
      locations: [{ physicalLocation: { artifactLocation: { uri: "file:///work/ws/src/app.js" }, region: { startLine: 3 } } }],
    },
    // No level: the rule's default configuration says.
    {
      ruleId: "security/detect-eval-with-expression",
      ruleIndex: 0,
      message: { text: "eval with argument of type Identifier" },
      locations: [{ physicalLocation: { artifactLocation: { index: 0 }, region: { startLine: 4 } } }],
    },
  ],
};

function sarifError(text: string): string {
  try {
    parseSarif(text);
  } catch (error) {
    expect(error).toBeInstanceOf(SarifError);
    return (error as Error).message;
  }
  throw new Error("parsed without an error");
}

describe("parseSarif", () => {
  it("reads tool, rule, level, message, file and line of each result", () => {
    const { tools, findings } = parseSarif(sarif([eslintRun]), { roots: ["/work/ws"] });
    expect(tools).toEqual(["ESLint"]);
    expect(findings.map(({ fingerprint, ...rest }) => rest)).toEqual([
      { tool: "ESLint", ruleId: "security/detect-non-literal-regexp", level: "warning", message: "Found non-literal argument to RegExp Constructor", file: "src/app.js", line: 3 },
      { tool: "ESLint", ruleId: "security/detect-eval-with-expression", level: "error", message: "eval with argument of type Identifier", file: "src/app.js", line: 4 },
    ]);
  });

  it("defaults a result's level to warning, and leaves out suppressed results and those of level none", () => {
    const { findings } = parseSarif(
      sarif([
        {
          tool: { driver: { name: "x" } },
          results: [
            { ruleId: "a", message: { text: "plain" } },
            { ruleId: "b", level: "none", message: { text: "informational" } },
            { ruleId: "c", kind: "pass", message: { text: "passed" } },
            { ruleId: "d", level: "error", message: { text: "waived" }, suppressions: [{ kind: "inSource" }] },
            { ruleId: "e", level: "error", message: { text: "under review" }, suppressions: [{ kind: "external", status: "underReview" }] },
          ],
        },
      ]),
    );
    expect(findings.map((finding) => [finding.ruleId, finding.level])).toEqual([
      ["a", "warning"],
      ["e", "error"],
    ]);
  });

  it("fills a message from the rule's message strings, and takes the tool's name from the task when the report has none", () => {
    const { findings, tools } = parseSarif(
      sarif([
        {
          tool: { driver: { rules: [{ id: "R1", messageStrings: { default: { text: "{0} is unsafe in {1}" } } }] } },
          results: [{ ruleId: "R1", message: { id: "default", arguments: ["strcpy", "copy()"] }, locations: [{ physicalLocation: { artifactLocation: { uri: "./src/a%20b.c" } } }] }],
        },
      ]),
      { tool: "scanner" },
    );
    expect(tools).toEqual(["scanner"]);
    expect(findings[0]).toMatchObject({ tool: "scanner", message: "strcpy is unsafe in copy()", file: "src/a b.c", line: null });
  });

  it("reads every run, each with its tool", () => {
    const other = { tool: { driver: { name: "Flawfinder" } }, results: [{ ruleId: "FF1001", level: "error", message: { text: "strcpy" } }] };
    const { tools, findings } = parseSarif(sarif([eslintRun, other, { tool: { driver: { name: "Flawfinder" } }, results: [] }]));
    expect(tools).toEqual(["ESLint", "Flawfinder"]);
    expect(findings.map((finding) => finding.tool)).toEqual(["ESLint", "ESLint", "Flawfinder"]);
  });

  it("says clearly what is wrong with a file that is not SARIF 2.1.0", () => {
    expect(sarifError("")).toBe("the file is empty, not SARIF");
    expect(sarifError("<xml/>")).toStartWith("not JSON (");
    expect(sarifError(JSON.stringify({ hello: "world" }))).toBe('not a SARIF report (no "version" and "runs")');
    expect(sarifError(JSON.stringify([1, 2]))).toBe('not a SARIF report (no "version" and "runs")');
    expect(sarifError(JSON.stringify({ version: "2.0.0", runs: [] }))).toBe('SARIF version "2.0.0"; Gantry reads 2.1.0');
    expect(sarifError(JSON.stringify({ version: "2.1.0" }))).toBe('the SARIF file has no "runs"');
    expect(sarifError(JSON.stringify({ version: "2.1.0", runs: [] }))).toBe("the SARIF file has no runs");
    expect(sarifError(sarif([{ results: [] }]))).toStartWith("not valid SARIF 2.1.0: runs[0].tool: ");
    expect(sarifError(sarif([{ tool: { driver: { name: "x" } }, results: [{ message: "text" }] }]))).toStartWith("not valid SARIF 2.1.0: runs[0].results[0].message: ");
    expect(sarifError(sarif([{ tool: { driver: { name: "x" } }, results: [{ level: "fatal", message: { text: "t" } }] }]))).toBe(
      'not valid SARIF 2.1.0: runs[0].results[0].level: must be "none", "note", "warning" or "error"',
    );
    expect(sarifError(sarif([{ tool: { driver: { name: "x" } }, results: null }]))).toBe("runs[0].results is null: the tool says it could not analyse");
  });
});

describe("fingerprintOf", () => {
  it("keeps a finding the same when only its line moves, and tells different ones apart", () => {
    const first = parseSarif(sarif([eslintRun]), { roots: ["/work/ws"] }).findings;
    const moved = structuredClone(eslintRun);
    moved.results[0]!.locations[0]!.physicalLocation.region.startLine = 30;
    const second = parseSarif(sarif([moved]), { roots: ["/work/ws"] }).findings;
    expect(second[0]!.line).toBe(30);
    expect(second[0]!.fingerprint).toBe(first[0]!.fingerprint);
    expect(first[0]!.fingerprint).not.toBe(first[1]!.fingerprint);
    const base = { tool: "t", ruleId: "r", file: "a.js", message: "m" };
    expect(fingerprintOf({ ...base, file: "b.js" })).not.toBe(fingerprintOf(base));
    expect(fingerprintOf({ ...base, message: "m  " })).toBe(fingerprintOf(base));
  });
});

describe("relativeFile", () => {
  it("makes file URIs of the workspace (host or container side) relative", () => {
    expect(relativeFile("file:///data/workspaces/run-1/src/x.js", ["/data/workspaces/run-1", "/workspace"])).toBe("src/x.js");
    expect(relativeFile("file:///workspace/src/x.js", ["/data/workspaces/run-1", "/workspace"])).toBe("src/x.js");
    expect(relativeFile("/workspace/lib/y.c", ["/workspace"])).toBe("lib/y.c");
    expect(relativeFile("src/x.js", ["/workspace"])).toBe("src/x.js");
    expect(relativeFile("file:///etc/passwd", ["/workspace"])).toBe("/etc/passwd");
  });
});

describe("the gate", () => {
  const findings = [{ level: "error" as const }, { level: "warning" as const }, { level: "error" as const }, { level: "note" as const }];

  it("fails on findings at or above failOn, never for none", () => {
    expect(failing(findings, "error")).toHaveLength(2);
    expect(failing(findings, "warning")).toHaveLength(3);
    expect(failing(findings, "note")).toHaveLength(4);
    expect(failing(findings, "none")).toHaveLength(0);
  });

  it("counts the findings by level in its reason", () => {
    expect(countByLevel(findings)).toEqual({ error: 2, warning: 1, note: 1 });
    expect(failureReason(findings, "error")).toBe("2 findings at or above error: 2 errors, 1 warning, 1 note");
    expect(failureReason([{ level: "warning" }], "warning")).toBe("1 finding at or above warning: 1 warning");
    expect(failureReason([{ level: "warning" }], "error")).toBeUndefined();
    expect(failureReason(findings, "none")).toBeUndefined();
  });

  it("summarises a scan for the log", () => {
    expect(countsText({ error: 0, warning: 0, note: 0 })).toBe("no findings");
    const parsed = parseSarif(sarif([eslintRun]));
    expect(scanSummary(parsed.findings, ["eslint"])).toBe("scan: 1 error, 1 warning (eslint)");
    expect(scanSummary([], ["secretlint"])).toBe("scan: no findings (secretlint)");
  });
});
