// For the sign-in tests: a real OpenID provider (test/fixtures/oidc/provider.mjs under node),
// a free port to start Gantry on (the provider must know its callback URL first), and a
// browser-like client (a cookie jar per origin, redirects followed by hand) to walk a flow.
import { join } from "node:path";
import { REPO_ROOT } from "./temp.ts";

export interface TestAccount {
  name: string;
  email: string;
  groups?: string[];
  /** The provider's email_verified claim (true when absent). */
  emailVerified?: boolean;
}

export interface TestProvider {
  issuer: string;
  setAccounts(accounts: Record<string, TestAccount>): Promise<void>;
  stop(): Promise<void>;
}

export async function startOidcProvider(settings: {
  clients: { client_id: string; client_secret: string; redirect_uris: string[] }[];
  accounts: Record<string, TestAccount>;
}): Promise<TestProvider> {
  const proc = Bun.spawn(["node", join(REPO_ROOT, "test", "fixtures", "oidc", "provider.mjs"), JSON.stringify(settings)], { stdout: "pipe", stderr: "pipe" });
  let out = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += decoder.decode(chunk);
  })();
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) out += decoder.decode(chunk);
  })();
  const deadline = Date.now() + 20_000;
  let issuer: string | undefined;
  while (!issuer) {
    issuer = /listening (http:\/\/\S+)/.exec(out)?.[1];
    if (issuer) break;
    if (proc.exitCode !== null) throw new Error(`the OIDC provider exited (${proc.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`the OIDC provider did not start:\n${out}`);
    await Bun.sleep(25);
  }
  const base = issuer;
  return {
    issuer: base,
    async setAccounts(accounts) {
      const response = await fetch(`${base}/test/accounts`, { method: "PUT", body: JSON.stringify(accounts) });
      if (response.status !== 204) throw new Error(`setAccounts: ${response.status}`);
    },
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** A browser stand-in: cookies kept per origin (paths ignored: sending extra ones is harmless here). */
export class Browserish {
  readonly jars = new Map<string, Map<string, string>>();

  cookie(origin: string, name: string): string | undefined {
    return this.jars.get(origin)?.get(name);
  }

  setCookie(origin: string, name: string, value: string | undefined): void {
    const jar = this.jars.get(origin) ?? new Map<string, string>();
    this.jars.set(origin, jar);
    if (value === undefined) jar.delete(name);
    else jar.set(name, value);
  }

  /** One request, no redirect followed; cookies sent and kept. */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin);
    const headers = new Headers(init.headers);
    if (jar?.size) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      const gone = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute) || (/^\s*expires=/i.test(attribute) && new Date(attribute.split("=")[1]!) < new Date()));
      this.setCookie(origin, name, gone || value === "" ? undefined : value);
    }
    return response;
  }

  /** Follows redirects from `url` until one leads to a URL starting with `stopAt`; returns that URL. */
  async followUntil(url: string, stopAt: string): Promise<string> {
    let current = url;
    for (let hop = 0; hop < 20; hop++) {
      if (current.startsWith(stopAt)) return current;
      const response = await this.request(current);
      const location = response.headers.get("location");
      if (!location) throw new Error(`${current} answered ${response.status} without a redirect:\n${(await response.text()).slice(0, 500)}`);
      current = new URL(location, current).href;
    }
    throw new Error(`too many redirects from ${url}`);
  }
}
