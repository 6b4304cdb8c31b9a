// bun:test matchers for test runs: `expect(run).toHaveSucceeded()`, `expect(run.task("deploy"))
// .toBeSkipped()`, `expect(run).toHaveRunInOrder(["build", "test"])`… A failure shows the run
// as text (each task with its state, reason and needs), so the message says what happened.
import type { TestRun, TestTask } from "./run-result.ts";
import type { TaskState } from "../domain/states.ts";

interface MatcherResult {
  pass: boolean;
  message: () => string;
}

const isRun = (value: unknown): value is TestRun => typeof value === "object" && value !== null && "starts" in value && "describe" in value;
const isTask = (value: unknown): value is TestTask => typeof value === "object" && value !== null && "attempts" in value && "needs" in value && "id" in value;

/** A matcher given something else than it reads: a mistake in the test, thrown so that `.not` cannot pass it. */
function notATestRun(name: string, received: unknown, wants = 'a run from testRun() or one of its tasks (run.task("id"))'): never {
  const got = typeof received === "object" && received !== null ? (JSON.stringify(received)?.slice(0, 80) ?? "an object") : String(received);
  throw new TypeError(`${name} expects ${wants}, got ${got}`);
}

type MatcherThis = { isNot: boolean };

/** Whether a run or a task ended in `state` (bun:test names matchers by their functions, so each matcher below is a method of its own calling this). */
function checkState(self: MatcherThis, received: unknown, name: string, state: "successful" | "failed" | "cancelled" | "skipped", words: string): MatcherResult {
  if (isRun(received)) {
    if (state === "skipped") return notATestRun(name, received, 'a task (a run is never skipped): expect(run.task("id")).toBeSkipped()');
    const pass = received.state === state;
    return {
      pass,
      message: () => `expected the run ${self.isNot ? "not " : ""}to have ${words}, but it ${received.state === "successful" ? "succeeded" : received.state}:\n${received.describe()}`,
    };
  }
  if (isTask(received)) {
    const pass = received.state === state;
    return {
      pass,
      message: () =>
        `expected task ${received.id} ${self.isNot ? "not " : ""}to ${state === "skipped" ? "be skipped" : `have ${words}`}, but it is ${received.state}${received.reason ? ` (${received.reason})` : ""}${taskLog(received)}`,
    };
  }
  return notATestRun(name, received);
}

/** The end of a task's log, for a message about it. */
function taskLog(task: TestTask): string {
  const lines = task.log.split("\n").filter(Boolean);
  if (lines.length === 0) return "";
  const last = lines.slice(-10);
  return `\nits log${lines.length > last.length ? ` (last ${last.length} of ${lines.length} lines)` : ""}:\n${last.map((line) => `  │ ${line}`).join("\n")}`;
}

export const gantryMatchers = {
  /** The run (or a task) ended successful. */
  toHaveSucceeded(this: MatcherThis, received: unknown): MatcherResult {
    return checkState(this, received, "toHaveSucceeded", "successful", "succeeded");
  },
  /** The run (or a task) ended failed. */
  toHaveFailed(this: MatcherThis, received: unknown): MatcherResult {
    return checkState(this, received, "toHaveFailed", "failed", "failed");
  },
  /** The run (or a task) ended cancelled. */
  toHaveBeenCancelled(this: MatcherThis, received: unknown): MatcherResult {
    return checkState(this, received, "toHaveBeenCancelled", "cancelled", "been cancelled");
  },
  /** The task was skipped: its needs could no longer be met. */
  toBeSkipped(this: MatcherThis, received: unknown): MatcherResult {
    return checkState(this, received, "toBeSkipped", "skipped", "been skipped");
  },

  /** The tasks started in this order (each one's first attempt; others may start between them). */
  toHaveRunInOrder(this: MatcherThis, received: unknown, expected: string[]): MatcherResult {
    if (!isRun(received)) return notATestRun("toHaveRunInOrder", received, "a run from testRun()");
    const unknown = expected.filter((id) => !received.tasks.some((task) => task.id === id));
    if (unknown.length > 0) throw new TypeError(`toHaveRunInOrder names ${unknown.join(", ")}, which ${received.pipeline} does not have (its tasks: ${received.tasks.map((task) => task.id).join(", ")})`);
    const missing = expected.filter((id) => !received.order.includes(id));
    const positions = expected.map((id) => received.order.indexOf(id));
    const pass = missing.length === 0 && positions.every((position, index) => index === 0 || position > positions[index - 1]!);
    return {
      pass,
      message: () =>
        missing.length > 0
          ? `expected ${expected.join(" → ")} to run in that order, but ${missing.join(", ")} never started; tasks started in the order ${received.order.join(" → ") || "(none)"}:\n${received.describe()}`
          : `expected ${expected.join(" → ")} ${this.isNot ? "not " : ""}to run in that order; tasks started in the order ${received.order.join(" → ")}`,
    };
  },

  /** The task ran this many attempts. */
  toHaveAttempts(this: MatcherThis, received: unknown, count: number): MatcherResult {
    if (!isTask(received)) return notATestRun("toHaveAttempts", received, 'a task: expect(run.task("id")).toHaveAttempts(n)');
    return {
      pass: received.attempts.length === count,
      message: () =>
        `expected task ${received.id} ${this.isNot ? "not " : ""}to have ${count} attempt${count === 1 ? "" : "s"}, it had ${received.attempts.length}: ${received.attempts.map((attempt) => `${attempt.attempt} ${attempt.state}${attempt.reason ? ` (${attempt.reason})` : ""}`).join(", ") || "none"}`,
    };
  },

  /** The run's tasks ended in these states (tasks not named may end as they will). */
  toHaveTaskStates(this: MatcherThis, received: unknown, expected: Record<string, TaskState>): MatcherResult {
    if (!isRun(received)) return notATestRun("toHaveTaskStates", received, "a run from testRun()");
    const unknown = Object.keys(expected).filter((id) => !received.tasks.some((task) => task.id === id));
    if (unknown.length > 0) throw new TypeError(`toHaveTaskStates names ${unknown.join(", ")}, which ${received.pipeline} does not have (its tasks: ${received.tasks.map((task) => task.id).join(", ")})`);
    const wrong = Object.entries(expected).filter(([id, state]) => received.tasks.find((task) => task.id === id)?.state !== state);
    return {
      pass: wrong.length === 0,
      message: () =>
        this.isNot
          ? `expected the tasks not to end ${JSON.stringify(expected)}`
          : `expected ${wrong.map(([id, state]) => `${id} to be ${state}`).join(", ")}:\n${received.describe()}`,
    };
  },
};

/** The matchers' types, for `expect(...)` in bun:test. */
export interface GantryMatchers {
  toHaveSucceeded(): void;
  toHaveFailed(): void;
  toHaveBeenCancelled(): void;
  toBeSkipped(): void;
  toHaveRunInOrder(tasks: string[]): void;
  toHaveAttempts(count: number): void;
  toHaveTaskStates(states: Record<string, TaskState>): void;
}
