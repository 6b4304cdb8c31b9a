// A webhook retried after a crash is not swallowed: the server dies (kill -9) once the
// delivery and its run are stored — with the first task in flight, or (written exactly as
// the receiver's transaction writes them) before anything else happened — and starts again
// on the same data. The stored run resumes and succeeds; the sender's retry with the same
// delivery id answers 202 naming that run as the same delivery (duplicate: true), and no
// second run is ever started.
import { createClient } from "@libsql/client";
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import Docker from "dockerode";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../app/db/client.ts";
import { insertRun } from "../../app/db/repos/runs.ts";
import { signBody } from "../../app/domain/hmac-signature.ts";
import { startGantryProcess, waitFor, waitForLog, waitForRun, type GantryProcess, type RunJson } from "../helpers/gantry.ts";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/temp.ts";

setDefaultTimeout(120_000);

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const SECRET = "crash-hook-secret-value";
const PIPELINE = "wh-crash";

// The first task waits for a file in the run's workspace, so the run is surely in flight
// when the server dies; the second shows the run went on past it.
const SOURCE = `
import { container, definePipeline, secret, webhook } from "gantry";
export default definePipeline({
  id: "${PIPELINE}",
  triggers: [webhook({ secret: secret("hook_secret"), variables: { REF: "ref" } })],
  tasks: {
    slow: container({
      image: "local/busybox:latest",
      command: ["sh", "-c", "echo waiting for release; while [ ! -f \\"$GANTRY_WORKSPACE/release\\" ]; do sleep 0.1; done; echo released"],
    }),
    after: container({ image: "local/busybox:latest", command: ["sh", "-c", "echo after ran for $REF"], needs: { slow: "success" } }),
  },
});
`;

const servers: GantryProcess[] = [];
afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
  const left = await docker.listContainers({ all: true, filters: { label: ["gantry.managed=true", `gantry.pipeline=${PIPELINE}`] } });
  for (const info of left) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
});

async function start(pipelinesDir: string, dataDir: string): Promise<GantryProcess & { hooksUrl: string }> {
  const server = await startGantryProcess({ pipelinesDir, dataDir, env: { GANTRY_EXTENSIONS_DIR: join(REPO_ROOT, "extensions"), GANTRY_KILL_GRACE: "1s" } });
  servers.push(server);
  const hooksUrl = await waitFor(() => /hooks:\s+(http:\/\/\S+?)\/hooks\//.exec(server.output())?.[1], 10_000, "the hooks URL");
  return Object.assign(server, { hooksUrl });
}

const apiOf = (server: GantryProcess) => (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
  });

const BODY = new TextEncoder().encode(JSON.stringify({ ref: "main" }));

/** The signed delivery, as a sender (and its retry) would send it. */
const deliver = (hooksUrl: string, delivery: string) =>
  fetch(`${hooksUrl}/hooks/webhook/default/${PIPELINE}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gantry-signature-256": signBody(SECRET, BODY), "x-gantry-delivery": delivery },
    body: BODY,
  });

describe("a webhook delivery whose server dies before it could answer", () => {
  it("resumes the stored run, and the retry answers 202 with that run instead of starting another", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, `${PIPELINE}.ts`), SOURCE);
    const DELIVERY = "delivery-in-flight";

    const first = await start(pipelinesDir, dataDir);
    const api1 = apiOf(first);
    const set = await api1(`/pipelines/default/${PIPELINE}/secrets/hook_secret`, { method: "PUT", body: JSON.stringify({ value: SECRET }) });
    expect(set.status).toBe(201);

    // The delivery goes out; the server is killed the moment its delivery row (stored in one
    // transaction with the run) can be read, whatever became of the answer: the sender counts
    // it as lost and will retry. Nothing the server stores tells the two cases apart.
    const db = createClient({ url: `file:${join(dataDir, "gantry.db")}` });
    const lost = deliver(first.hooksUrl, DELIVERY).then(
      (response) => `answered ${response.status}`,
      (error: Error) => `no answer (${error.message})`,
    );
    const stored = await waitFor(async () => {
      const { rows } = await db.execute({ sql: "SELECT run_id FROM deliveries WHERE delivery_id = ?", args: [DELIVERY] });
      return rows[0]?.run_id == null ? undefined : Number(rows[0].run_id);
    }, 15_000, "the delivery to be stored");
    await first.kill9();
    console.log(`first delivery: ${await lost}; run ${stored} stored, server killed`);

    await restartAndRetry(pipelinesDir, dataDir, DELIVERY, stored);
    db.close();
  });

  it("resumes a run stored with its delivery by a server that died before driving or answering it", async () => {
    const pipelinesDir = tempDir("gantry-pipelines-");
    const dataDir = tempDir("gantry-data-");
    writeFile(join(pipelinesDir, `${PIPELINE}.ts`), SOURCE);
    const first = await start(pipelinesDir, dataDir);
    const set = await apiOf(first)(`/pipelines/default/${PIPELINE}/secrets/hook_secret`, { method: "PUT", body: JSON.stringify({ value: SECRET }) });
    expect(set.status).toBe(201);
    await first.kill9();

    // What the webhook receiver's one transaction commits (engine/runs/create-run.ts: a run
    // that needs no queue is stored running on this node, with its delivery), and then the
    // process is gone: nothing driven, nothing answered.
    const DELIVERY = "delivery-stored-then-died";
    const { db, close } = await openDatabase(`file:${join(dataDir, "gantry.db")}`);
    const nodeId = readFileSync(join(dataDir, "node-id"), "utf8").trim();
    const now = new Date();
    const run = await db.transaction((tx) =>
      insertRun(
        tx,
        { namespace: "default", id: PIPELINE },
        {
          trigger: { kind: "webhook", by: "webhook" },
          version: 1,
          variables: { REF: "main" },
          inputs: {},
          noSecrets: false,
          tasks: [
            { id: "slow", kind: "container" },
            { id: "after", kind: "container" },
          ],
          concurrencyKey: null,
          concurrency: null,
          delivery: { extension: "webhook", deliveryId: DELIVERY },
        },
        now,
        { nodeId, leaseExpiresAt: new Date(now.getTime() + 30_000) },
      ),
    );
    close();
    expect(run).toMatchObject({ id: 1, state: "running" });

    await restartAndRetry(pipelinesDir, dataDir, DELIVERY, run.id);
  });
});

/**
 * Starts a server on the data a dead one left, sends the retry of `delivery`, and checks it
 * names the stored run, which then runs to success: exactly one run and one delivery.
 */
async function restartAndRetry(pipelinesDir: string, dataDir: string, delivery: string, stored: number): Promise<void> {
  const second = await start(pipelinesDir, dataDir);
  const api2 = apiOf(second);

  // The retry: same body, same delivery id.
  const retry = await deliver(second.hooksUrl, delivery);
  expect(retry.status).toBe(202);
  expect(await retry.json()).toEqual({ run: { namespace: "default", pipeline: PIPELINE, id: stored, duplicate: true } });

  // The stored run is driven on (not ended as orphaned): its first task waits, then goes on.
  await waitForLog(api2, `default/${PIPELINE}`, stored, "slow", /waiting for release/, 30_000);
  const workspace = join(dataDir, "workspaces", "default", PIPELINE, String(stored));
  expect(existsSync(workspace)).toBe(true);
  writeFileSync(join(workspace, "release"), "go");
  const finished: RunJson = await waitForRun(api2, `default/${PIPELINE}`, stored, 60_000);
  expect(finished.state).toBe("successful");
  expect(finished.reason).toBeUndefined();
  expect(finished.variables).toEqual({ REF: "main" });
  expect(finished.trigger).toEqual({ kind: "webhook", by: "webhook" });
  expect(finished.tasks.map((task) => [task.id, task.state])).toEqual([
    ["slow", "successful"],
    ["after", "successful"],
  ]);

  // A retry after the end names the same run; exactly one run and one delivery exist.
  const late = await deliver(second.hooksUrl, delivery);
  expect(await late.json()).toEqual({ run: { namespace: "default", pipeline: PIPELINE, id: stored, duplicate: true } });
  const { runs } = (await (await api2(`/pipelines/default/${PIPELINE}/runs?limit=100`)).json()) as { runs: RunJson[] };
  expect(runs.map((run) => run.id)).toEqual([stored]);
  const db = createClient({ url: `file:${join(dataDir, "gantry.db")}` });
  const { rows } = await db.execute({ sql: "SELECT run_id FROM deliveries WHERE delivery_id = ?", args: [delivery] });
  expect(rows.map((row) => Number(row.run_id))).toEqual([stored]);
  db.close();
}

