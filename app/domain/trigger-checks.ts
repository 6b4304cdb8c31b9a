// What a schedule trigger must be beyond its shape, checked when a pipeline file loads: a
// cron expression croner reads and that ever fires, a time zone the runtime knows, and an
// interval that is a real gap. Pure (croner computes, nothing is scheduled).
import { Cron } from "croner";
import type { SpecIssue, TriggerSpec } from "./pipeline-spec.ts";

/** Five fields (minute first) or six (second first), as the cron extension schedules them. */
export const CRON_MODE = "5-or-6-parts";

/** The longest interval: past this, a cron schedule says it better (and dates stay in range). */
export const MAX_INTERVAL_MS = 366 * 86_400_000;

/** Whether the runtime knows this IANA time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why the time zone cannot be used, or undefined. */
export function timeZoneProblem(zone: string): string | undefined {
  return isTimeZone(zone) ? undefined : `unknown time zone "${zone}" (use an IANA name like "Europe/Berlin" or "UTC")`;
}

/** Why the cron expression (in the zone, if any) cannot schedule anything, or undefined. */
export function cronProblem(expression: string, timezone?: string): string | undefined {
  if (timezone !== undefined) {
    const zone = timeZoneProblem(timezone);
    if (zone) return zone;
  }
  let job: Cron;
  try {
    job = new Cron(expression, { paused: true, mode: CRON_MODE, ...(timezone !== undefined && { timezone }) });
  } catch (error) {
    // croner prefixes its messages with its class name ("CronPattern: ..."): noise to authors.
    const reason = (error as Error).message.replace(/^Cron\w*: /, "");
    return `invalid cron expression "${expression}": ${reason}`;
  }
  // "0 0 30 2 *" parses, but no February has a 30th: a schedule that never fires is a typo.
  if (!job.nextRun()) return `cron expression "${expression}" never fires (no date matches it)`;
  return undefined;
}

/** Why an interval (in milliseconds) is no gap to repeat at, or undefined. */
export function intervalProblem(ms: number, written: unknown = ms): string | undefined {
  const shown = typeof written === "string" ? `"${written}"` : String(written);
  if (!Number.isFinite(ms) || ms < 1) return `interval ${shown} must be at least 1ms (e.g. "30s", "5m")`;
  if (ms > MAX_INTERVAL_MS) return `interval ${shown} is longer than 366 days: use a cron schedule for that`;
  return undefined;
}

/**
 * The problems of a pipeline's parsed triggers, each at its place (`triggers.0`). `written`
 * is what the file gave, so an interval is quoted as its author wrote it ("0s", not 0).
 */
export function triggerProblems(triggers: readonly TriggerSpec[], written?: unknown): SpecIssue[] {
  const raw = Array.isArray(written) ? written : [];
  const issues: SpecIssue[] = [];
  triggers.forEach((trigger, index) => {
    let problem: string | undefined;
    if (trigger.kind === "cron") problem = cronProblem(trigger.expression, trigger.timezone);
    if (trigger.kind === "interval") problem = intervalProblem(trigger.every, (raw[index] as { every?: unknown } | undefined)?.every);
    if (problem) issues.push({ path: `triggers.${index}`, message: problem });
  });
  return issues;
}
