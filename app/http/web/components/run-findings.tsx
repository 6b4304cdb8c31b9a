// What a run's scans found, as its page shows them: counts, then the findings grouped by
// level (errors first), each with where it is (a link to the log of the task that found
// it), its rule and message, and "new" when the last successful run before did not have
// it. Also the counts one run shows in the pipeline's run history.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunFindings as RunFindingsData } from "../../../db/repos/findings.ts";
import { countsText, LEVELS_BY_SEVERITY, type LevelCounts } from "../../../domain/sarif.ts";
import type { SarifLevel } from "../../../domain/task-files.ts";
import { runPath, type RunRef } from "../paths.ts";
import { taskSectionId } from "./run-tasks.tsx";
import { TableHead } from "./table-head.tsx";

/** The run page's anchor of the findings section. */
export const FINDINGS_SECTION_ID = "findings";

const LEVEL_TITLES: Record<SarifLevel, [one: string, many: string]> = { error: ["Error", "Errors"], warning: ["Warning", "Warnings"], note: ["Note", "Notes"] };

type Finding = RunFindingsData["findings"][number];

function Where({ finding, run, linkToLog }: { finding: Finding; run: RunRef; linkToLog: boolean }) {
  const place = finding.file ? `${finding.file}${finding.line !== null ? `:${finding.line}` : ""}` : "(no file)";
  // A finding's line is in the project, not in the log: the link opens the log of the task that reported it.
  if (!linkToLog) return <span class="mono finding-where">{place}</span>;
  return (
    <a class="mono finding-where" href={`${runPath(run)}#${taskSectionId(finding.taskId)}`} title={`Log of ${finding.taskId}`}>
      {place}
    </a>
  );
}

function LevelGroup({ level, findings, run, linkToLog }: { level: SarifLevel; findings: Finding[]; run: RunRef; linkToLog: boolean }) {
  const titleId = `${FINDINGS_SECTION_ID}-${level}`;
  const [one, many] = LEVEL_TITLES[level];
  const fresh = findings.filter((finding) => finding.isNew).length;
  return (
    <div class={`finding-group finding-group-${level}`}>
      <h3 id={titleId}>
        <span class={`badge finding-level finding-level-${level}`}>{findings.length === 1 ? one : many}</span>
        {` ${findings.length}`}
        {fresh > 0 && <span class="muted">{` (${fresh} new)`}</span>}
      </h3>
      <table class="list findings" aria-labelledby={titleId}>
        <TableHead columns={["Where", "Rule", "Message", { label: "Found by", class: "wide-only" }]} />
        <tbody>
          {findings.map((finding) => (
            <tr class={finding.isNew ? "finding new" : "finding"}>
              <td>
                <Where finding={finding} run={run} linkToLog={linkToLog} />
                {finding.isNew && <span class="badge finding-new">new</span>}
              </td>
              <td class="mono finding-rule">{finding.ruleId ?? <span class="muted">(none)</span>}</td>
              <td class="finding-message">{finding.message}</td>
              <td class="wide-only finding-source">
                {finding.tool}
                <span class="muted">{` in ${finding.taskId}`}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Against which run "new" was decided, in words. */
function BaselineNote({ data, run }: { data: RunFindingsData; run: RunRef }) {
  const fresh = data.findings.filter((finding) => finding.isNew).length;
  if (data.baseline === undefined) return <p class="hint">No earlier run of this pipeline succeeded, so every finding counts as new.</p>;
  const baseline = { namespace: run.namespace, pipelineId: run.pipelineId, id: data.baseline };
  return (
    <p class="hint">
      {`${fresh === 0 ? "None" : fresh} new since `}
      <a href={`${runPath(baseline)}#${FINDINGS_SECTION_ID}`}>{`run ${data.baseline}`}</a>
      {", the last successful run before this one."}
    </p>
  );
}

export function RunFindings({ data, run, linkToLog, final }: { data: RunFindingsData; run: RunRef; linkToLog: boolean; final: boolean }) {
  const byLevel = LEVELS_BY_SEVERITY.map((level) => [level, data.findings.filter((finding) => finding.level === level)] as const).filter(([, found]) => found.length > 0);
  return (
    <section class="card run-findings" id={FINDINGS_SECTION_ID} aria-labelledby={`${FINDINGS_SECTION_ID}-title`}>
      <h2 id={`${FINDINGS_SECTION_ID}-title`}>Findings</h2>
      <p class="findings-summary">
        <FindingCounts counts={data.counts} />
      </p>
      {data.findings.length > 0 && <BaselineNote data={data} run={run} />}
      {!final && <p class="hint">Scans still running add their findings when they end: reload to see them.</p>}
      {byLevel.map(([level, found]) => (
        <LevelGroup level={level} findings={found} run={run} linkToLog={linkToLog} />
      ))}
    </section>
  );
}

/** "2 errors, 1 warning" with each level marked; "no findings" when there are none. */
export function FindingCounts({ counts }: { counts: LevelCounts }) {
  const levels = LEVELS_BY_SEVERITY.filter((level) => counts[level] > 0);
  if (levels.length === 0) return <span class="muted finding-counts">no findings</span>;
  return (
    <span class="finding-counts">
      {levels.map((level, index) => (
        <>
          {index > 0 && ", "}
          <span class={`finding-count finding-level-${level}`}>{countsText({ error: 0, warning: 0, note: 0, [level]: counts[level] })}</span>
        </>
      ))}
    </span>
  );
}

/** A run's cell in the pipeline's run history: its counts, linking to its findings; empty for a run without. */
export function HistoryFindings({ run, counts }: { run: RunRef; counts: LevelCounts | undefined }) {
  if (!counts) return null;
  return (
    <a href={`${runPath(run)}#${FINDINGS_SECTION_ID}`}>
      <FindingCounts counts={counts} />
    </a>
  );
}
