// How long a failed task waits before its next attempt, and how that wait reads to people.
// By default the wait doubles from 1 s and stops growing at 1 min, so a flaky dependency
// gets time to recover without a task with many retries waiting for hours.
import { formatDuration } from "./duration.ts";

/** A task's retry delay as stored with its version: the first wait, its growth per attempt, its cap. */
export interface RetryDelay {
  initialMs: number;
  /** Each wait is the previous one times this (1: every wait is the same). */
  factor: number;
  maxMs: number;
}

/** A task that sets no `retryDelay`: 1 s, 2 s, 4 s, ... up to 1 min. */
export const DEFAULT_RETRY_DELAY: Readonly<RetryDelay> = { initialMs: 1_000, factor: 2, maxMs: 60_000 };

/** The longest any one wait may be (a longer one is a load error). */
export const MAX_RETRY_DELAY_MS = 86_400_000;

/** `retryDelay: "5s"`: the same wait before every retry; 0 retries at once. */
export function fixedRetryDelay(ms: number): RetryDelay {
  return { initialMs: ms, factor: 1, maxMs: ms };
}

/**
 * `retryDelay: { initial, factor?, max? }`: factor 2 by default, and the cap 1 min (or the
 * first wait, when that is longer) unless given.
 */
export function growingRetryDelay(initialMs: number, factor?: number, maxMs?: number): RetryDelay {
  return { initialMs, factor: factor ?? DEFAULT_RETRY_DELAY.factor, maxMs: maxMs ?? Math.max(initialMs, DEFAULT_RETRY_DELAY.maxMs) };
}

/**
 * The wait in ms after attempt `failed` (1 for the first attempt) before the next one starts.
 * @example retryDelayMs(undefined, 1) // 1000; retryDelayMs(undefined, 3) // 4000; retryDelayMs(undefined, 10) // 60000
 */
export function retryDelayMs(delay: RetryDelay | undefined, failed: number): number {
  const { initialMs, factor, maxMs } = delay ?? DEFAULT_RETRY_DELAY;
  // Computed in floating point and capped: a factor of 10 after 20 attempts is far past any cap.
  const grown = initialMs * factor ** Math.max(0, failed - 1);
  return Math.round(Math.min(maxMs, grown));
}

/** When the next attempt is due after attempt `failed` ended at `now`; null when it starts at once. */
export function retryAt(delay: RetryDelay | undefined, failed: number, now: Date): Date | null {
  const ms = retryDelayMs(delay, failed);
  return ms > 0 ? new Date(now.getTime() + ms) : null;
}

/** The time of day, to the second, in this process's time zone: "14:03:05". */
export function clockTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** "in 4s" (whole seconds, rounded up), or "now" once due. */
export function retryCountdown(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  return ms > 0 ? `in ${formatDuration(Math.ceil(ms / 1000) * 1000)}` : "now";
}

/**
 * What a task waiting for its next attempt says.
 * @example retryNote(new Date("2026-12-06T14:03:05Z"), new Date("2026-12-06T14:03:01Z")) // "retrying at 14:03:05 (in 4s)" (UTC)
 */
export function retryNote(at: Date, now: Date): string {
  return `retrying at ${clockTime(at)} (${retryCountdown(at, now)})`;
}
