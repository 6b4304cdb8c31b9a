import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { openDatabase, type Database } from "../db/client.ts";
import { migrate } from "../db/migrate.ts";
import { insertEvent } from "../db/repos/events.ts";
import { events } from "../db/schema/index.ts";
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
  relay = await startEventRelay({ db: database.db, bus, nodeId: "node-a", pollMs: 20 });
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
