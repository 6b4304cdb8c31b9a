// Which environment a namespace's deploy reaches, and where a rollback goes, on a real libSQL
// database (the migrations applied): a namespace never reaches another's own environment, and
// rolling back again goes further back instead of flipping between the two newest images.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { openDatabase, type Database } from "../app/db/client.ts";
import { migrate } from "../app/db/migrate.ts";
import { finishDeployment, insertDeployment, previousSuccessfulImage, ROLLBACK_STRATEGY } from "../app/db/repos/deployments.ts";
import { environmentForDeploy, insertEnvironment } from "../app/db/repos/environments.ts";
import type { EnvironmentSettings } from "../app/domain/environments.ts";
import { tempDir } from "./helpers/temp.ts";

let database: Database;
const settings: EnvironmentSettings = { provider: "swarm", config: {}, secrets: [], protection: {} };
const now = new Date("2026-12-06T12:00:00Z");

beforeAll(async () => {
  database = await openDatabase(`file:${join(tempDir("gantry-environments-"), "gantry.db")}`);
  await migrate(database.client);
});
afterAll(() => database?.close());

describe("the environment a deploy reaches", () => {
  it("is the namespace's own of that name, else the shared one, never another namespace's own", async () => {
    await insertEnvironment(database.db, { namespace: "team-a", name: "staging" }, settings, now);
    expect((await environmentForDeploy(database.db, "team-a", "staging"))?.key).toBe("team-a/staging");
    // No shared staging: team-b finds nothing, rather than team-a's.
    expect(await environmentForDeploy(database.db, "team-b", "staging")).toBeUndefined();
    await insertEnvironment(database.db, { namespace: null, name: "staging" }, settings, now);
    expect((await environmentForDeploy(database.db, "team-b", "staging"))?.key).toBe("staging");
    expect((await environmentForDeploy(database.db, "team-a", "staging"))?.key).toBe("team-a/staging");
  });
});

describe("where a rollback goes", () => {
  const deployed = async (image: string, strategy = "rolling", previousImage: string | null = null) => {
    const id = await insertDeployment(database.db, { environment: "staging", service: "web", image, previousImage, strategy, startedAt: now, ...(strategy === ROLLBACK_STRATEGY ? { by: "ops" } : { namespace: "default", pipelineId: "ship", runId: 1, taskId: "web" }) });
    await finishDeployment(database.db, id, { state: "succeeded", endedAt: now });
  };

  it("goes further back on each rollback: A, B, C, then B, then A, then nothing older", async () => {
    await deployed("app:a");
    await deployed("app:b", "rolling", "app:a");
    await deployed("app:c", "rolling", "app:b");
    expect(await previousSuccessfulImage(database.db, "staging", "web")).toEqual({ image: "app:b", current: "app:c" });
    await deployed("app:b", ROLLBACK_STRATEGY, "app:c");
    expect(await previousSuccessfulImage(database.db, "staging", "web")).toEqual({ image: "app:a", current: "app:b" });
    await deployed("app:a", ROLLBACK_STRATEGY, "app:b");
    expect(await previousSuccessfulImage(database.db, "staging", "web")).toBeUndefined();
    // A new release after rollbacks: its rollback goes to what ran before it.
    await deployed("app:d", "rolling", "app:a");
    expect(await previousSuccessfulImage(database.db, "staging", "web")).toEqual({ image: "app:a", current: "app:d" });
  });
});
