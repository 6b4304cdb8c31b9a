// Who did what: changes to secrets are events naming the person or token that made them
// (never the value), through the API and the web page alike.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { startTestGantry, type TestGantry } from "./helpers/gantry.ts";
import { webLogin } from "./helpers/web.ts";

let gantry: TestGantry;
beforeAll(async () => {
  gantry = await startTestGantry();
});
afterAll(async () => {
  await gantry?.stop();
});

interface EventJson {
  kind: string;
  data: Record<string, unknown>;
}

async function secretEvents(): Promise<EventJson[]> {
  const { events } = (await (await gantry.api("/events?limit=200")).json()) as { events: EventJson[] };
  return events.filter((event) => event.kind.startsWith("secret."));
}

describe("secret changes", () => {
  it("are events naming who set and deleted them, through the API", async () => {
    const created = await gantry.api("/tokens", { method: "POST", body: JSON.stringify({ name: "deployer", roles: ["admin"] }) });
    const { secret: deployer } = (await created.json()) as { secret: string };
    const asDeployer = (path: string, init: RequestInit) =>
      fetch(`${gantry.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${deployer}`, "content-type": "application/json" } });
    expect((await asDeployer("/secrets/deploy_key", { method: "PUT", body: JSON.stringify({ value: "s3cr3t-value-for-who" }) })).status).toBe(201);
    expect((await asDeployer("/secrets/deploy_key", { method: "DELETE" })).status).toBe(200);
    const events = await secretEvents();
    expect(events).toContainEqual(expect.objectContaining({ kind: "secret.set", data: expect.objectContaining({ name: "deploy_key", by: "deployer", created: true }) }));
    expect(events).toContainEqual(expect.objectContaining({ kind: "secret.deleted", data: expect.objectContaining({ name: "deploy_key", by: "deployer" }) }));
    expect(JSON.stringify(events)).not.toContain("s3cr3t-value-for-who");
  });

  it("are events naming who set them on the secrets page", async () => {
    const web = await webLogin(gantry.url, gantry.token);
    const saved = await web.post("/secrets", { scope: "global", name: "page_key", value: "page-value-not-in-events" });
    expect(saved.status).toBe(303);
    const events = await secretEvents();
    expect(events).toContainEqual(expect.objectContaining({ kind: "secret.set", data: expect.objectContaining({ name: "page_key", by: "bootstrap" }) }));
    expect(JSON.stringify(events)).not.toContain("page-value-not-in-events");
  });
});
