// Issue 11: failed-login limiting locked out every user behind one address (a proxy). Now a
// valid token is never held back, failures are counted per client address and presented token
// prefix (with a looser budget for the whole address), and X-Forwarded-For names the client only
// when the socket peer is a trusted proxy (GANTRY_TRUSTED_PROXIES).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { startTestGantry, type TestGantry } from "../helpers/gantry.ts";

setDefaultTimeout(30_000);

const LIMIT = 3;
let direct: TestGantry;
let proxied: TestGantry;

beforeAll(async () => {
  direct = await startTestGantry({ env: { GANTRY_AUTH_FAILURE_LIMIT: String(LIMIT) } });
  // This test's client is the proxy: it connects from 127.0.0.1.
  proxied = await startTestGantry({ env: { GANTRY_AUTH_FAILURE_LIMIT: String(LIMIT), GANTRY_TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1" } });
});
afterAll(async () => {
  await direct?.stop();
  await proxied?.stop();
});

/** A bad token starting with `prefix` (the limiter tells tokens apart by their first 8 characters). */
const badToken = (prefix: string, i: number) => `${prefix}${"x".repeat(30)}${i}`;

const call = (server: TestGantry, token: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/api/v1/pipelines`, { headers: { authorization: `Bearer ${token}`, ...headers } }).then(async (response) => {
    await response.body?.cancel();
    return response.status;
  });

async function failedAddresses(server: TestGantry): Promise<string[]> {
  const { events } = (await (await server.api("/events?limit=1000")).json()) as { events: { kind: string; data: { address: string } }[] };
  return events.filter((event) => event.kind === "auth.failed").map((event) => event.data.address);
}

describe("failed logins from one address", () => {
  it("do not block a valid token from that address, however many there are", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push(await call(direct, badToken("gty_AAAA", i)));
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(401));
    expect(statuses.slice(LIMIT)).toEqual(Array(3).fill(429));
    expect(await call(direct, direct.token)).toBe(200);
    // On the web login form too.
    const login = await fetch(`${direct.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: direct.token }).toString(),
    });
    expect(login.status).toBe(303);
  });

  it("leave another token prefix from the same address its own budget", async () => {
    expect(await call(direct, badToken("gty_AAAA", 99))).toBe(429);
    const other: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) other.push(await call(direct, badToken("gty_BBBB", i)));
    expect(other).toEqual([...Array(LIMIT).fill(401), 429]);
  });
});

describe("the client address", () => {
  it("believes X-Forwarded-For only from a trusted proxy, and then its right-most untrusted hop", async () => {
    // From a peer that is not a trusted proxy, the header is ignored.
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      // A client claiming a new address each time gets no new budget.
      statuses.push(await call(direct, badToken("gty_CCCC", i), { "x-forwarded-for": `203.0.113.${i + 1}` }));
    }
    expect(statuses.at(-1)).toBe(429);
    const seen = await failedAddresses(direct);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((address) => address === "127.0.0.1")).toBe(true);

    // From a trusted proxy, two clients behind it: one floods, the other keeps its budget.
    const flood: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) flood.push(await call(proxied, badToken("gty_DDDD", i), { "x-forwarded-for": "198.51.100.7" }));
    expect(flood).toEqual([...Array(LIMIT).fill(401), 429]);
    expect(await call(proxied, badToken("gty_DDDD", 50), { "x-forwarded-for": "198.51.100.8" })).toBe(401);
    // What the client wrote left of the hop the proxy appended is never believed, and trusted
    // inner proxies (10.0.0.0/8 here) are skipped.
    expect(await call(proxied, badToken("gty_EEEE", 1), { "x-forwarded-for": "192.0.2.66, 198.51.100.9, 10.1.2.3" })).toBe(401);
    const addresses = await failedAddresses(proxied);
    expect(addresses).toContain("198.51.100.7");
    expect(addresses).toContain("198.51.100.8");
    expect(addresses).toContain("198.51.100.9");
    expect(addresses).not.toContain("192.0.2.66");
    expect(addresses).not.toContain("10.1.2.3");
    expect(addresses).not.toContain("127.0.0.1");
  });

  it("refuses to start with a trusted proxy entry that is not an address or range, naming it", async () => {
    await expect(startTestGantry({ env: { GANTRY_TRUSTED_PROXIES: "10.0.0.0/8, proxy.internal" } })).rejects.toThrow(
      'trusted_proxies (GANTRY_TRUSTED_PROXIES): "proxy.internal" is not an IP address or CIDR range',
    );
  });
});

describe("a spray of guesses", () => {
  it("still bound a spray of different prefixes per address (at ten times the limit), valid tokens unaffected", async () => {
    const statuses: number[] = [];
    // Every guess a new prefix: only the address-wide budget can stop these.
    for (let i = 0; i < LIMIT * 10 + 2; i++) statuses.push(await call(direct, `gty_${String(i).padStart(4, "0")}${"y".repeat(30)}`));
    expect(statuses.at(-1)).toBe(429);
    expect(await call(direct, direct.token)).toBe(200);
  });
});
