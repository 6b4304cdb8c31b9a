import { describe, expect, it } from "bun:test";
import { cronProblem, intervalProblem, triggerProblems } from "./trigger-checks.ts";

describe("trigger checks", () => {
  it("accepts five- and six-field expressions, nicknames and known zones", () => {
    expect(cronProblem("0 3 * * *")).toBeUndefined();
    expect(cronProblem("*/5 * * * * *")).toBeUndefined();
    expect(cronProblem("@daily", "Europe/Berlin")).toBeUndefined();
    expect(cronProblem("0 3 * * *", "UTC")).toBeUndefined();
  });

  it("names what is wrong with an expression, a zone or a schedule that never fires", () => {
    expect(cronProblem("61 * * * *")).toBe('invalid cron expression "61 * * * *": Invalid value for minute: 61');
    expect(cronProblem("* * *")).toStartWith('invalid cron expression "* * *": ');
    expect(cronProblem("0 0 0 * * * 2030")).toStartWith('invalid cron expression "0 0 0 * * * 2030": ');
    expect(cronProblem("0 3 * * *", "Mars/Olympus_Mons")).toStartWith('unknown time zone "Mars/Olympus_Mons"');
    expect(cronProblem("0 0 30 2 *")).toBe('cron expression "0 0 30 2 *" never fires (no date matches it)');
  });

  it("refuses intervals under 1ms or over 366 days, quoting them as written", () => {
    expect(intervalProblem(0, "0s")).toBe('interval "0s" must be at least 1ms (e.g. "30s", "5m")');
    expect(intervalProblem(0)).toBe('interval 0 must be at least 1ms (e.g. "30s", "5m")');
    expect(intervalProblem(400 * 86_400_000, "400d")).toContain("longer than 366 days");
    expect(intervalProblem(1)).toBeUndefined();
    expect(intervalProblem(300_000, "5m")).toBeUndefined();
  });

  it("places each problem at its trigger", () => {
    const issues = triggerProblems(
      [
        { kind: "interval", every: 60_000 },
        { kind: "cron", expression: "61 * * * *" },
        { kind: "interval", every: 0 },
      ],
      [{ every: "1m" }, {}, { every: "0s" }],
    );
    expect(issues).toEqual([
      { path: "triggers.1", message: 'invalid cron expression "61 * * * *": Invalid value for minute: 61' },
      { path: "triggers.2", message: 'interval "0s" must be at least 1ms (e.g. "30s", "5m")' },
    ]);
  });
});
