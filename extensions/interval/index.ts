// Built-in "interval" extension: runs each subscribed pipeline every fixed duration, never
// more often than the configured minimum ([extensions.interval] minimum, 1s by default).
// Intervals that passed while the server was down start one catch-up run when it is back.
// Servers sharing a database keep one cadence, the one of the stored last tick, and start one
// run per tick.
import * as v from "valibot";
import { defineExtension, fireSchedule, formatDuration, parseDuration, type ExtensionApi, type Subscription } from "gantry";

const configSchema = v.strictObject({
  minimum: v.optional(
    v.pipe(
      v.union([v.number(), v.string()], 'must be milliseconds or a string like "1s"'),
      v.check((value) => parseDuration(value) !== undefined, 'must be milliseconds or a string like "500ms", "1s", "5m"'),
      v.transform((value) => parseDuration(value)!),
    ),
    1000,
  ),
});

// As pipeline files are checked when they load (app/domain/trigger-checks.ts): at least 1ms,
// at most 366 days; this is for subscriptions made through the API.
const paramsSchema = v.object({
  everyMs: v.pipe(
    v.number("must be milliseconds"),
    v.integer("must be whole milliseconds"),
    v.minValue(1, "must be at least 1ms"),
    v.maxValue(366 * 86_400_000, "must be at most 366 days (a longer gap is a cron schedule's job)"),
  ),
});

type Config = v.InferOutput<typeof configSchema>;
type Params = v.InferOutput<typeof paramsSchema>;
type Api = ExtensionApi<Config, Params>;

// setTimeout fires at once beyond ~24.8 days; longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The pending timer of each subscription. */
const timers = new Map<number, ReturnType<typeof setTimeout>>();

// everyMs is part of the key, so a changed interval never inherits an old fire time.
const stateKey = (subscription: Subscription<Params>) => `last:${subscription.id}:${subscription.params.everyMs}`;

const subscribed = (subscription: Subscription<Params>, api: Api) => api.subscriptions().some((current) => current.id === subscription.id);

/** The last tick of the cadence from `last` that is due by `now` (at least one interval after `last`). */
export function missedTick(last: number, every: number, now: number): number {
  return last + every * Math.floor((now - last) / every);
}

/** Fires at `due` (epoch ms), then keeps the cadence from there without drifting. */
function schedule(subscription: Subscription<Params>, api: Api, due: number): void {
  const every = subscription.params.everyMs;
  const timer = setTimeout(async () => {
    if (!subscribed(subscription, api)) return;
    const now = Date.now();
    if (now < due) return schedule(subscription, api, due);
    // Another server fired this tick (or one of its own cadence, half an interval or less
    // away): nothing to start, and its cadence becomes this one's, so they tick together.
    const last = Number(await api.getState(stateKey(subscription)).catch(() => undefined));
    // Unsubscribed (or subscribed again, with a timer of its own) meanwhile.
    if (!subscribed(subscription, api) || timers.get(subscription.id) !== timer) return;
    if (Number.isFinite(last) && last > due - every / 2) return schedule(subscription, api, last + every);
    void fireSchedule(api, subscription, stateKey(subscription), `interval ${formatDuration(every)}`, new Date(due));
    // Ticks the process slept through (a stalled event loop) are skipped, not queued.
    schedule(subscription, api, due + every * (Math.floor((now - due) / every) + 1));
  }, Math.min(Math.max(0, due - Date.now()), MAX_TIMER_MS));
  timers.set(subscription.id, timer);
}

export default defineExtension<Config, Params>({
  id: "interval",
  description: 'Starts runs every fixed duration: interval("5m").',
  config: configSchema,
  params: paramsSchema,
  async subscribe(subscription, api) {
    const every = subscription.params.everyMs;
    if (every < api.config.minimum) {
      throw new Error(
        `interval ${formatDuration(every)} is below the minimum of ${formatDuration(api.config.minimum)} (set by [extensions.interval] minimum in gantry.toml)`,
      );
    }
    const last = Number(await api.getState(stateKey(subscription)));
    // Unsubscribed while the state was read: schedule nothing.
    if (!subscribed(subscription, api)) return;
    const now = Date.now();
    if (!Number.isFinite(last)) {
      // A new subscription: its first run is one interval from now.
      schedule(subscription, api, now + every);
      await api.setState(stateKey(subscription), String(now));
    } else if (now - last >= every) {
      // One run stands in for every interval that passed while the server was down. Its tick
      // is the last one due, not now: servers starting together meet at one tick (and one run)
      // and keep one cadence from it.
      const tick = missedTick(last, every, now);
      api.log(`${subscription.namespace}/${subscription.pipeline}: ${formatDuration(now - last)} since the last run; running once now`);
      schedule(subscription, api, tick + every);
      void fireSchedule(api, subscription, stateKey(subscription), `interval ${formatDuration(every)} (missed tick)`, new Date(tick));
    } else {
      // Back within the interval: keep the old cadence.
      schedule(subscription, api, last + every);
    }
  },
  unsubscribe(subscription) {
    clearTimeout(timers.get(subscription.id));
    timers.delete(subscription.id);
  },
});
