// Built-in "cron" extension: runs each subscribed pipeline on its cron schedule (croner, five
// or six fields so seconds are allowed, optional IANA time zone). Ticks missed while the
// server was down start one catch-up run when it is back, never one per missed tick. Each
// run is for a tick of the schedule, so servers sharing a database start one run per tick.
import { Cron } from "croner";
import * as v from "valibot";
import { defineExtension, fireSchedule, type Subscription } from "gantry";

// Five fields (minute first) or six (second first); croner's seven-field years are left out.
const MODE = "5-or-6-parts";

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const paramsSchema = v.object({
  expression: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      // Pipeline files are checked the same way when they load (app/domain/trigger-checks.ts);
      // this is for subscriptions made through the API.
      try {
        const job = new Cron(dataset.value, { paused: true, mode: MODE });
        if (!job.nextRun()) addIssue({ message: `cron expression "${dataset.value}" never fires (no date matches it)` });
      } catch (error) {
        const reason = (error as Error).message.replace(/^Cron\w*: /, "");
        addIssue({ message: `invalid cron expression "${dataset.value}": ${reason}` });
      }
    }),
  ),
  timezone: v.optional(
    v.pipe(
      v.string(),
      v.check(isTimeZone, (issue) => `unknown time zone "${String(issue.input)}" (use an IANA name like "Europe/Berlin")`),
    ),
  ),
});

type Params = v.InferOutput<typeof paramsSchema>;

/** The running job of each subscription. */
const jobs = new Map<number, Cron>();

// The expression is part of the key, so a changed schedule never inherits an old fire time.
const stateKey = (subscription: Subscription<Params>) => `last:${subscription.id}:${subscription.params.expression}`;

const describe = ({ expression, timezone }: Params) => `cron ${expression}${timezone ? ` (${timezone})` : ""}`;

/** The schedule's latest tick at or before `at`: what a timer that woke at `at` fires for. */
const tickOf = (job: Cron, at: number): Date => job.previousRuns(1, new Date(at + 1))[0] ?? new Date(at);

export default defineExtension<Record<string, never>, Params>({
  id: "cron",
  description: "Starts runs on cron schedules: cron(\"0 3 * * *\", { timezone: \"Europe/Berlin\" }).",
  config: v.strictObject({}),
  params: paramsSchema,
  async subscribe(subscription, api) {
    const { params } = subscription;
    const last = Number(await api.getState(stateKey(subscription)));
    // Unsubscribed while the state was read: schedule nothing.
    if (!api.subscriptions().some((current) => current.id === subscription.id)) return;
    const now = new Date();
    const job: Cron = new Cron(params.expression, { mode: MODE, ...(params.timezone && { timezone: params.timezone }) }, () => {
      void fireSchedule(api, subscription, stateKey(subscription), describe(params), tickOf(job, Date.now()));
    });
    jobs.set(subscription.id, job);
    if (!Number.isFinite(last)) {
      // A new subscription: its schedule starts now, nothing is owed yet.
      await api.setState(stateKey(subscription), String(now.getTime()));
      return;
    }
    // The job counts from now; one run stands in for every tick between the last fire and now.
    const due = job.nextRun(new Date(last));
    if (due && due.getTime() <= now.getTime()) {
      api.log(`${subscription.namespace}/${subscription.pipeline}: tick of ${due.toISOString()} was missed while the server was down; running once now`);
      void fireSchedule(api, subscription, stateKey(subscription), `${describe(params)} (missed tick)`, tickOf(job, now.getTime()));
    }
  },
  unsubscribe(subscription) {
    jobs.get(subscription.id)?.stop();
    jobs.delete(subscription.id);
  },
});
