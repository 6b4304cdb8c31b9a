// A secret whose value masking may miss in part (JSON, a PEM key, several lines, very short)
// is stored with a warning: in its API metadata, on the secrets page, and as an event; never
// with its value. Replacing it with a plain token clears the warning.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { startTestGantry, type TestGantry } from "../helpers/gantry.ts";
import { webLogin } from "../helpers/web.ts";

const unique = crypto.randomUUID().replace(/-/g, "").slice(0, 12);
const JSON_VALUE = JSON.stringify({ client_id: `id-${unique}`, client_secret: `cs-${unique}` });
const PEM_VALUE = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC${unique}\n-----END PRIVATE KEY-----\n`;
const TOKEN_VALUE = `ghp_${unique}${unique}`;

interface SecretJson {
  name: string;
  scope: string;
  warning?: string;
}

describe("secret warnings", () => {
  let gantry: TestGantry;
  const put = async (path: string, value: string) => {
    const response = await gantry.api(path, { method: "PUT", body: JSON.stringify({ value }) });
    expect(response.status).toBeLessThan(300);
    return ((await response.json()) as { secret: SecretJson }).secret;
  };
  beforeAll(async () => {
    gantry = await startTestGantry();
  });
  afterAll(() => gantry?.stop());

  it("warns of JSON, PEM keys, several lines and short values in the API's metadata", async () => {
    expect((await put("/secrets/json_creds", JSON_VALUE)).warning).toContain("looks like JSON");
    expect((await put("/secrets/pem_key", PEM_VALUE)).warning).toContain("PEM key");
    expect((await put("/secrets/two_lines", `first-${unique}\nsecond-${unique}`)).warning).toContain("spans 2 lines");
    expect((await put("/secrets/shorty", "abc123")).warning).toContain("only 6 characters");
    expect(await put("/secrets/plain_token", TOKEN_VALUE)).not.toHaveProperty("warning");

    const shown = (await (await gantry.api("/secrets/json_creds")).json()) as { secret: SecretJson };
    expect(shown.secret.warning).toContain("looks like JSON");
    const listed = (await (await gantry.api("/secrets")).json()) as { secrets: SecretJson[] };
    expect(listed.secrets.find((secret) => secret.name === "pem_key")?.warning).toContain("PEM key");
    expect(listed.secrets.find((secret) => secret.name === "plain_token")).not.toHaveProperty("warning");
    expect(JSON.stringify(listed)).not.toContain(unique);
  });

  it("records an event for each warned secret, naming it and never quoting its value", async () => {
    await put("/secrets/evented_json", JSON_VALUE);
    const { events } = (await (await gantry.api("/events?limit=1000")).json()) as { events: { kind: string; data: Record<string, string> }[] };
    const flagged = events.filter((event) => event.kind === "secret.flagged");
    expect(flagged.map((event) => event.data.name)).toEqual(expect.arrayContaining(["json_creds", "pem_key", "two_lines", "shorty", "evented_json"]));
    expect(flagged.map((event) => event.data.name)).not.toContain("plain_token");
    expect(flagged.find((event) => event.data.name === "evented_json")).toMatchObject({ data: { scope: "global", warning: expect.stringContaining("JSON") } });
    expect(JSON.stringify(events)).not.toContain(unique);
  });

  it("clears the warning when the value is replaced by a plain token", async () => {
    expect((await put("/secrets/replaced", JSON_VALUE)).warning).toContain("JSON");
    expect(await put("/secrets/replaced", TOKEN_VALUE)).not.toHaveProperty("warning");
    expect(((await (await gantry.api("/secrets/replaced")).json()) as { secret: SecretJson }).secret).not.toHaveProperty("warning");
  });

  it("shows the warning on the secrets page, and at the top after saving such a secret there", async () => {
    const web = await webLogin(gantry.url, gantry.token);
    const saved = await web.post("/secrets", { scope: "global", name: "from_the_page", value: "short1" });
    expect(saved.status).toBe(303);
    const page = await (await web.get(saved.headers.get("location")!)).text();
    expect(page).toContain("Secret from_the_page (global) saved.");
    expect(page).toMatch(/class="notice problem"[^>]*>Masking may miss it: it is only 6 characters/);
    // In the list, beside each warned secret's name.
    expect(page).toContain("it is a PEM key or certificate");
    expect(page).not.toContain(unique);
  });
});
