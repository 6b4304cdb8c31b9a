import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { openDatabase, type Database } from "../db/client.ts";
import { migrate } from "../db/migrate.ts";
import { insertEvent } from "../db/repos/events.ts";
import { eq } from "drizzle-orm";
import { events, nodes } from "../db/schema/index.ts";
import { tempDir } from "../../test/helpers/temp.ts";
import { createEventBus, type BusMessage } from "./event-bus.ts";
import { startEventRelay, type EventRelay } from "./event-relay.ts";

let database: Database;
let relay: EventRelay;
const heard: BusMessage[] = [];

beforeAll(async () => {
  database = await openDatabase(`file:${join(tempDir("gantry-relay-"), "gantry.db")}`);
  await migrate(database.client);
  // Written before the relay starts: not news to it.
  await insertEvent(database.db, { kind: "run.created", namespace: "default", pipelineId: "old", runId: 1, data: {}, at: new Date(), nodeId: "node-b" });
  const bus = createEventBus();
  bus.subscribe((message) => heard.push(message));
  relay = await startEventRelay({ db: database.db, bus, nodeId: "node-a", pollMs: 20, alonePollMs: 20, leaseMs: 30_000 });
});

afterAll(() => {
  relay.stop();
  database.close();
});

const waitForHeard = async (count: number) => {
  const deadline = Date.now() + 3_000;
  while (heard.length < count && Date.now() < deadline) await Bun.sleep(10);
};

describe("event relay", () => {
  it("tells the bus what other nodes wrote, marked remote, and not its own events", async () => {
    const at = new Date();
    await insertEvent(database.db, { kind: "task.started", namespace: "default", pipelineId: "build", runId: 3, taskId: "test", data: {}, at, nodeId: "node-a" });
    await insertEvent(database.db, { kind: "task.started", namespace: "default", pipelineId: "build", runId: 4, taskId: "lint", data: {}, at, nodeId: "node-b" });
    await insertEvent(database.db, { kind: "source.synced", data: { source: "ops" }, at });
    await insertEvent(database.db, { kind: "run.finished", namespace: "default", pipelineId: "build", runId: 4, data: { state: "successful" }, at, nodeId: "node-b" });
    await waitForHeard(3);
    await Bun.sleep(60);
    expect(heard).toEqual([
      { kind: "task.started", namespace: "default", pipeline: "build", run: 4, task: "lint", remote: true },
      // Without a node it may be anyone's: relayed (a page renders once more at worst).
      { kind: "source.synced", source: "ops", remote: true },
      { kind: "run.finished", namespace: "default", pipeline: "build", run: 4, remote: true },
    ]);
  });

  it("says subscriptions changed once after another server's pipeline or subscription changes", async () => {
    heard.length = 0;
    const at = new Date();
    await database.db.transaction(async (tx) => {
      await tx.insert(events).values([
        { kind: "pipeline.version_added", namespace: "default", pipelineId: "nightly", data: {}, at },
        { kind: "subscription.created", namespace: "default", pipelineId: "nightly", data: {}, at },
      ]);
    });
    await waitForHeard(3);
    await Bun.sleep(60);
    expect(heard.map((message) => message.kind)).toEqual(["pipeline.version_added", "subscription.created", "subscriptions.changed"]);
    expect(heard.every((message) => message.remote)).toBe(true);
  });

  it("says subscriptions changed after a file went back to content already stored (its triggers are the old ones again)", async () => {
    heard.length = 0;
    // What the other server's loader writes then: the stored version is current again, no version is added.
    await insertEvent(database.db, { kind: "pipeline.loaded", namespace: "default", pipelineId: "nightly", data: { version: 1 }, at: new Date() });
    await waitForHeard(2);
    await Bun.sleep(60);
    expect(heard.map((message) => message.kind)).toEqual(["pipeline.loaded", "subscriptions.changed"]);
  });
});

describe("event relay alone on the database", () => {
  const waitUntil = async (what: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!what() && Date.now() < deadline) await Bun.sleep(10);
    return what();
  };
  const node = (id: string) => ({ id, hostname: "h", pid: 1, version: "test", instance: "i", pidScope: "", startedAt: new Date(), heartbeatAt: new Date() });

  it("looks slowly until another server is there, follows it closely, and slows down again when it stops", async () => {
    const bus = createEventBus();
    const relayed: BusMessage[] = [];
    bus.subscribe((message) => relayed.push(message));
    // A lease longer than the test: only a clean stop can end the following below.
    const alone = await startEventRelay({ db: database.db, bus, nodeId: "node-a", pollMs: 20, alonePollMs: 300, peerLookMs: 500, leaseMs: 60_000 });
    try {
      await Bun.sleep(100);
      expect(alone.following()).toBe(false);
      // A server whose heartbeat is older than the lease is gone: still alone after two looks.
      await database.db.insert(nodes).values({ ...node("node-old"), heartbeatAt: new Date(Date.now() - 120_000) });
      await Bun.sleep(700);
      expect(alone.following()).toBe(false);
      // Another server starts: found at the next look, and its events are relayed from then on.
      await database.db.insert(nodes).values(node("node-c"));
      expect(await waitUntil(() => alone.following(), 2_000)).toBe(true);
      await insertEvent(database.db, { kind: "run.created", namespace: "default", pipelineId: "c", runId: 1, data: {}, at: new Date(), nodeId: "node-c" });
      expect(await waitUntil(() => relayed.some((message) => message.pipeline === "c"), 2_000)).toBe(true);
      // It stops cleanly: alone again at the next look.
      await database.db.update(nodes).set({ stoppedAt: new Date() }).where(eq(nodes.id, "node-c"));
      expect(await waitUntil(() => !alone.following(), 2_000)).toBe(true);
      // An event of a node not (yet) in the table is another server too: relayed, and followed.
      await insertEvent(database.db, { kind: "run.created", namespace: "default", pipelineId: "d", runId: 1, data: {}, at: new Date(), nodeId: "node-d" });
      expect(await waitUntil(() => relayed.some((message) => message.pipeline === "d"), 2_000)).toBe(true);
      expect(alone.following()).toBe(true);
    } finally {
      alone.stop();
    }
  });
});
