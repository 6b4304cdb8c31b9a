// What a harness run found: the counts that show the checks looked at real work, the
// violations, and the summary the bench prints and the test shows when it fails.

export interface KillReport {
  wallMs: number;
  kills: number;
  killsDuringStartup: number;
  /** Kills after which the server came back and answered GET /api/v1/health. */
  survived: number;
  /** Every run of the harness's pipelines found at the end (acknowledged or not). */
  runsChecked: number;
  runsAcknowledged: number;
  /** Runs that exist although their request got no answer (the server died mid-request). */
  runsUnacknowledged: number;
  deliveriesSent: number;
  deliveriesChecked: number;
  cancelsSent: number;
  cancelsChecked: number;
  /** (run, task) pairs whose attempts and markers were compared. */
  executionsChecked: number;
  /** Attempts the API reports, and task bodies that actually started (marker lines). */
  attempts: number;
  markers: number;
  /** Successful attempts of the streaming container task whose log was read line by line. */
  logsChecked: number;
  runStates: Record<string, number>;
  /** Why tasks ended failed or cancelled, and how often. */
  taskReasons: Record<string, number>;
  /** Containers of this server, and its task processes, alive right after each kill (summed): work the next start had to find again. */
  containersAtKills: number;
  processesAtKills: number;
  /** Containers still there once every run had ended, before the janitor's next pass (not a violation by itself). */
  containersBeforeJanitor: number;
  violations: string[];
  /** Server output that looks like an engine error (not counted as violations). */
  serverErrors: string[];
  root: string;
}

/** An empty report; `violations` and `serverErrors` are the lists the harness fills as it goes. */
export function createReport(root: string, violations: string[], serverErrors: string[]): KillReport {
  return {
    wallMs: 0,
    kills: 0,
    killsDuringStartup: 0,
    survived: 0,
    runsChecked: 0,
    runsAcknowledged: 0,
    runsUnacknowledged: 0,
    deliveriesSent: 0,
    deliveriesChecked: 0,
    cancelsSent: 0,
    cancelsChecked: 0,
    executionsChecked: 0,
    attempts: 0,
    markers: 0,
    logsChecked: 0,
    runStates: {},
    taskReasons: {},
    containersAtKills: 0,
    processesAtKills: 0,
    containersBeforeJanitor: 0,
    violations,
    serverErrors,
    root,
  };
}

/** The summary the bench prints and the test shows when it fails. */
export function formatReport(report: KillReport): string {
  const entries = (record: Record<string, number>) =>
    Object.entries(record)
      .sort((a, b) => b[1] - a[1])
      .map(([name, count]) => `${count} × ${name}`)
      .join("; ") || "none";
  const lines = [
    `wall time:               ${(report.wallMs / 1000).toFixed(1)} s`,
    `kills (SIGKILL):         ${report.kills} (${report.killsDuringStartup} during start-up)`,
    `kills survived:          ${report.survived}`,
    `runs checked:            ${report.runsChecked} (${report.runsAcknowledged} acknowledged, ${report.runsUnacknowledged} created by a request that got no answer)`,
    `run states:              ${entries(report.runStates)}`,
    `deliveries checked:      ${report.deliveriesChecked} acknowledged of ${report.deliveriesSent} sent (each sent again: duplicate, same run)`,
    `cancels checked:         ${report.cancelsChecked} acknowledged of ${report.cancelsSent} runs a cancel was sent for`,
    `task executions checked: ${report.executionsChecked} (attempts recorded ${report.attempts}, task bodies started ${report.markers})`,
    `stream logs checked:     ${report.logsChecked}`,
    `task end reasons:        ${entries(report.taskReasons)}`,
    `at the kills:            ${report.containersAtKills} containers and ${report.processesAtKills} task processes alive (summed over kills)`,
    `containers left once every run had ended (before the janitor's next pass): ${report.containersBeforeJanitor}`,
    `violations:              ${report.violations.length}`,
    ...report.violations.map((violation) => `  - ${violation}`),
  ];
  if (report.serverErrors.length > 0) lines.push(`server output that looks like errors (${report.serverErrors.length}):`, ...report.serverErrors.slice(0, 20).map((line) => `  ! ${line}`));
  return lines.join("\n");
}
