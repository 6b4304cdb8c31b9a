// The interval extension's catch-up after downtime, with its API faked (no server) and the
// clock set: servers starting a few milliseconds apart fire the same tick, so the delivery id
// makes it one run, and they keep one cadence from it.
import { afterEach, describe, expect, it, setSystemTime } from "bun:test";
import type { ExtensionApi, ExtensionStartRunOptions, Subscription } from "gantry";
import interval, { missedTick } from "../extensions/interval/index.ts";

type Params = { everyMs: number };

const EVERY = 60_000;
const LAST = Date.parse("2030-01-01T00:00:00Z");
const subscription: Subscription<Params> = { id: 7, namespace: "default", pipeline: "nightly", params: { everyMs: EVERY } };

/** One server's view: the stored state as it read it at its start, and the runs it asked for. */
function fakeServer(state: Record<string, string>) {
  const starts: ExtensionStartRunOptions[] = [];
  const api: ExtensionApi<{ minimum: number }, Params> = {
    config: { minimum: 1_000 },
    log: () => {},
    subscriptions: () => [subscription],
    startRun: async (_id, options = {}) => (starts.push(options), { namespace: "default", pipeline: "nightly", run: starts.length, duplicate: false, url: `http://127.0.0.1:8080/pipelines/default/nightly/runs/${starts.length}` }),
    secret: async () => undefined,
    event: async () => {},
    getState: async (key) => state[key],
    setState: async (key, value) => void (state[key] = value),
    pushed: async () => ({ sources: [] }),
  };
  return { api, starts, state };
}

afterEach(() => {
  setSystemTime();
  interval.unsubscribe?.(subscription, fakeServer({}).api);
});

describe("interval catch-up", () => {
  it("is the last tick due on the old cadence, not the time of the start", () => {
    expect(missedTick(LAST, EVERY, LAST + EVERY)).toBe(LAST + EVERY);
    expect(missedTick(LAST, EVERY, LAST + 3 * EVERY + 40)).toBe(LAST + 3 * EVERY);
    expect(missedTick(LAST, EVERY, LAST + 4 * EVERY - 1)).toBe(LAST + 3 * EVERY);
  });

  it("fired by servers starting a few ms apart after downtime is one tick: one delivery id, one stored cadence", async () => {
    const stored = () => ({ [`last:${subscription.id}:${EVERY}`]: String(LAST) });
    const servers = [fakeServer(stored()), fakeServer(stored())];
    for (const [index, server] of servers.entries()) {
      setSystemTime(new Date(LAST + 3 * EVERY + 40 + index * 35));
      await interval.subscribe!(subscription, server.api);
      // fireSchedule runs on its own: let it store the tick and ask for the run.
      for (let i = 0; i < 10 && server.starts.length === 0; i++) await Bun.sleep(1);
      interval.unsubscribe!(subscription, server.api);
    }
    const tick = new Date(LAST + 3 * EVERY).toISOString();
    expect(servers.map((server) => server.starts.map((start) => start.deliveryId))).toEqual([[`schedule:7:${tick}`], [`schedule:7:${tick}`]]);
    expect(servers.map((server) => server.state[`last:${subscription.id}:${EVERY}`])).toEqual([String(LAST + 3 * EVERY), String(LAST + 3 * EVERY)]);
  });
});
