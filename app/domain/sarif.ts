// Reads a SARIF 2.1.0 report into findings (tool, rule, level, message, file, line) and
// judges them: counts by level, which are at or above a task's failOn, and a fingerprint
// that stays the same when only the line moves. Pure: text in, findings out.
import { createHash } from "node:crypto";
import * as v from "valibot";
import { SARIF_LEVELS, type FailOn, type SarifLevel } from "./task-files.ts";

/** One result of a scan, as it is stored and shown. */
export interface Finding {
  tool: string;
  ruleId: string | null;
  level: SarifLevel;
  message: string;
  /** The file, relative to the workspace when the report said where it is. */
  file: string | null;
  line: number | null;
  fingerprint: string;
}

export type LevelCounts = Record<SarifLevel, number>;

/** A report read: the tools of its runs (in order, once each) and their findings. */
export interface SarifReport {
  tools: string[];
  findings: Finding[];
}

/** What a SARIF file is not, in words for the task's failure reason. */
export class SarifError extends Error {
  override name = "SarifError";
}

export interface ParseSarifOptions {
  /** The tool's name when the report does not give one. */
  tool?: string;
  /**
   * Absolute folders file URIs are made relative to: the workspace as the server sees it,
   * and as containers see it (`/workspace`), since tools write absolute `file://` URIs.
   */
  roots?: string[];
}

/** The longest message, rule id and file kept: a report is written by pipeline code. */
const MAX_MESSAGE = 4000;
const MAX_RULE_ID = 500;
const MAX_FILE = 1000;

const levelSchema = v.picklist(["none", "note", "warning", "error"], 'must be "none", "note", "warning" or "error"');
const messageSchema = v.looseObject({
  text: v.optional(v.string()),
  markdown: v.optional(v.string()),
  id: v.optional(v.string()),
  arguments: v.optional(v.array(v.unknown())),
});
const ruleSchema = v.looseObject({
  id: v.optional(v.string()),
  defaultConfiguration: v.optional(v.looseObject({ level: v.optional(levelSchema) })),
  messageStrings: v.optional(v.record(v.string(), v.looseObject({ text: v.optional(v.string()) }))),
});
const componentSchema = v.looseObject({
  name: v.optional(v.string()),
  rules: v.optional(v.nullable(v.array(ruleSchema))),
});
const locationSchema = v.looseObject({
  physicalLocation: v.optional(
    v.looseObject({
      artifactLocation: v.optional(v.looseObject({ uri: v.optional(v.string()), index: v.optional(v.number()) })),
      region: v.optional(v.looseObject({ startLine: v.optional(v.number()) })),
    }),
  ),
});
const resultSchema = v.looseObject({
  ruleId: v.optional(v.string()),
  ruleIndex: v.optional(v.number()),
  rule: v.optional(v.looseObject({ id: v.optional(v.string()), index: v.optional(v.number()) })),
  level: v.optional(levelSchema),
  kind: v.optional(v.string()),
  message: messageSchema,
  locations: v.optional(v.nullable(v.array(locationSchema))),
  suppressions: v.optional(v.nullable(v.array(v.looseObject({ status: v.optional(v.string()) })))),
});
const runSchema = v.looseObject({
  tool: v.looseObject({ driver: componentSchema, extensions: v.optional(v.nullable(v.array(componentSchema))) }),
  // Absent: read as no results. null: the tool says it could not analyse (checked below).
  results: v.optional(v.nullable(v.array(resultSchema))),
  artifacts: v.optional(v.nullable(v.array(v.looseObject({ location: v.optional(v.looseObject({ uri: v.optional(v.string()) })) })))),
});
const sarifSchema = v.looseObject({ version: v.string(), runs: v.array(runSchema) });

type SarifRun = v.InferOutput<typeof runSchema>;
type SarifResult = v.InferOutput<typeof resultSchema>;
type SarifRule = v.InferOutput<typeof ruleSchema>;

/** "runs.0.tool.driver" → "runs[0].tool.driver" */
function pathOf(issue: v.BaseIssue<unknown>): string {
  return (v.getDotPath(issue) ?? "").replace(/\.(\d+)(?=\.|$)/g, "[$1]");
}

/**
 * The findings of a SARIF 2.1.0 report, or a SarifError saying why it is not one (not JSON,
 * no "version"/"runs", another version, no runs, a field of the wrong type). Results a
 * report marks as suppressed or as not a problem (level "none", a kind other than "fail")
 * are left out.
 */
export function parseSarif(text: string, options: ParseSarifOptions = {}): SarifReport {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SarifError(text.trim() === "" ? "the file is empty, not SARIF" : `not JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json) || (!("version" in json) && !("runs" in json))) {
    throw new SarifError('not a SARIF report (no "version" and "runs")');
  }
  const { version, runs } = json as { version?: unknown; runs?: unknown };
  if (version !== "2.1.0") throw new SarifError(`SARIF version ${JSON.stringify(version ?? null)}; Gantry reads 2.1.0`);
  if (runs === undefined || runs === null) throw new SarifError('the SARIF file has no "runs"');
  if (Array.isArray(runs) && runs.length === 0) throw new SarifError("the SARIF file has no runs");
  const parsed = v.safeParse(sarifSchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new SarifError(`not valid SARIF 2.1.0: ${pathOf(issue)}: ${issue.message}`);
  }
  const findings: Finding[] = [];
  const tools: string[] = [];
  parsed.output.runs.forEach((run, index) => {
    if (run.results === null) throw new SarifError(`runs[${index}].results is null: the tool says it could not analyse`);
    const tool = cut(run.tool.driver.name || options.tool || "unknown", MAX_RULE_ID);
    if (!tools.includes(tool)) tools.push(tool);
    for (const result of run.results ?? []) {
      const finding = findingOf(run, result, tool, options.roots ?? []);
      if (finding) findings.push(finding);
    }
  });
  return { tools, findings };
}

function findingOf(run: SarifRun, result: SarifResult, tool: string, roots: string[]): Finding | undefined {
  if (result.suppressions?.length && result.suppressions.every((s) => s.status === undefined || s.status === "accepted")) return undefined;
  const rule = ruleOf(run, result);
  // SARIF §3.27.10: without a level, a "fail" result (the default kind) is a warning; other kinds are "none".
  const level = result.level ?? rule?.defaultConfiguration?.level ?? (result.kind === undefined || result.kind === "fail" ? "warning" : "none");
  if (level === "none") return undefined;
  const ruleIdText = result.ruleId ?? result.rule?.id ?? rule?.id;
  const ruleId = ruleIdText ? cut(ruleIdText, MAX_RULE_ID) : null;
  const message = cut(messageOf(result, rule) ?? ruleId ?? "(no message)", MAX_MESSAGE);
  const physical = result.locations?.[0]?.physicalLocation;
  const artifact = physical?.artifactLocation;
  const uri = artifact?.uri ?? (artifact?.index !== undefined ? run.artifacts?.[artifact.index]?.location?.uri : undefined);
  const file = uri ? cut(relativeFile(uri, roots), MAX_FILE) : null;
  const startLine = physical?.region?.startLine;
  const line = startLine !== undefined && Number.isInteger(startLine) && startLine > 0 ? startLine : null;
  return { tool, ruleId, level, message, file, line, fingerprint: fingerprintOf({ tool, ruleId, file, message }) };
}

function ruleOf(run: SarifRun, result: SarifResult): SarifRule | undefined {
  const rules = run.tool.driver.rules ?? [];
  const index = result.ruleIndex ?? result.rule?.index;
  if (index !== undefined && rules[index]) return rules[index];
  const id = result.ruleId ?? result.rule?.id;
  if (id === undefined) return undefined;
  for (const component of [run.tool.driver, ...(run.tool.extensions ?? [])]) {
    const found = component.rules?.find((candidate) => candidate.id === id);
    if (found) return found;
  }
  return undefined;
}

/** The message's text, or its rule's message string with the `{0}` arguments filled in. */
function messageOf(result: SarifResult, rule: SarifRule | undefined): string | undefined {
  const { text, markdown, id, arguments: args = [] } = result.message;
  if (text) return text;
  const template = id !== undefined ? rule?.messageStrings?.[id]?.text : undefined;
  if (template) return template.replace(/\{(\d+)\}/g, (whole, n: string) => (args[Number(n)] === undefined ? whole : String(args[Number(n)])));
  return markdown || undefined;
}

/** A file URI as a path relative to the workspace where it lies in one of the roots. */
export function relativeFile(uri: string, roots: readonly string[]): string {
  let path = uri;
  if (/^file:/i.test(path)) {
    try {
      path = decodeURIComponent(new URL(path).pathname);
    } catch {
      // left as written
    }
  } else if (!/^[a-z][a-z0-9+.-]*:/i.test(path)) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // left as written
    }
  }
  for (const root of roots) {
    const prefix = root.endsWith("/") ? root : `${root}/`;
    if (path.startsWith(prefix)) {
      path = path.slice(prefix.length);
      break;
    }
  }
  return path.replace(/^(\.\/)+/, "");
}

/**
 * What makes a finding the same one in another run: tool, rule, file and message, not the
 * line, so code that moved keeps its findings (and they are not "new").
 */
export function fingerprintOf(finding: { tool: string; ruleId: string | null; file: string | null; message: string }): string {
  const message = finding.message.replace(/\s+/g, " ").trim();
  return createHash("sha256")
    .update(JSON.stringify([finding.tool, finding.ruleId ?? "", finding.file ?? "", message]))
    .digest("hex");
}

const RANK: Record<SarifLevel, number> = { note: 1, warning: 2, error: 3 };

/** Whether a finding of `level` fails a task with this failOn. */
export function isAtOrAbove(level: SarifLevel, failOn: FailOn): boolean {
  return failOn !== "none" && RANK[level] >= RANK[failOn];
}

/** The findings at or above failOn (none for "none"). */
export function failing<T extends { level: SarifLevel }>(findings: readonly T[], failOn: FailOn): T[] {
  return findings.filter((finding) => isAtOrAbove(finding.level, failOn));
}

export function countByLevel(findings: readonly { level: SarifLevel }[]): LevelCounts {
  const counts: LevelCounts = { error: 0, warning: 0, note: 0 };
  for (const finding of findings) counts[finding.level]++;
  return counts;
}

/** Levels from the most serious down. */
export const LEVELS_BY_SEVERITY: readonly SarifLevel[] = [...SARIF_LEVELS].sort((a, b) => RANK[b] - RANK[a]);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** "2 errors, 1 warning", levels with none left out; "no findings" when all are 0. */
export function countsText(counts: LevelCounts): string {
  const parts = LEVELS_BY_SEVERITY.filter((level) => counts[level] > 0).map((level) => plural(counts[level], level));
  return parts.length ? parts.join(", ") : "no findings";
}

/** The task log's line after a scan: "scan: 2 errors, 1 warning (eslint)". */
export function scanSummary(findings: readonly Finding[], tools: readonly string[]): string {
  return `scan: ${countsText(countByLevel(findings))}${tools.length ? ` (${tools.join(", ")})` : ""}`;
}

/**
 * Why the scan fails the task, or undefined when it passes:
 * "2 findings at or above error: 2 errors, 1 warning".
 */
export function failureReason(findings: readonly { level: SarifLevel }[], failOn: FailOn): string | undefined {
  const over = failing(findings, failOn);
  if (over.length === 0) return undefined;
  return `${plural(over.length, "finding")} at or above ${failOn}: ${countsText(countByLevel(findings))}`;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
