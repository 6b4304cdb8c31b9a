// Who a request came from (for failed-login limits and the event log) and whether it reached
// us over https: the socket peer, or what a trusted reverse proxy (GANTRY_TRUSTED_PROXIES)
// says it saw, never what an arbitrary client claims in a header.
import { BlockList, isIP } from "node:net";
import type { Context } from "hono";
import { getConnInfo } from "hono/bun";
import { ConfigError } from "../config.ts";
import type { AppEnv } from "./env.ts";

export interface TrustedProxies {
  /** Whether the address (IPv4, IPv6 or IPv4-mapped IPv6) is one of the trusted proxies. */
  has(address: string): boolean;
}

/** "::ffff:10.0.0.1" (an IPv4 peer on a dual-stack socket) is 10.0.0.1. */
function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Reads the trusted-proxy list: addresses and CIDR ranges; anything else is a ConfigError naming the entry. */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", bits, extra] = entry.split("/");
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > maxBits))) {
      throw new ConfigError(
        `trusted_proxies (GANTRY_TRUSTED_PROXIES): "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)`,
      );
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return {
    has(address) {
      const plain = plainAddress(address);
      const family = isIP(plain);
      return family !== 0 && list.check(plain, family === 6 ? "ipv6" : "ipv4");
    },
  };
}

// Parsed once per config (the list is a setting, so its array never changes while serving).
const parsed = new WeakMap<readonly string[], TrustedProxies>();

function trustedProxiesOf(c: Context<AppEnv>): TrustedProxies {
  const entries = c.get("deps").config.trustedProxies;
  let proxies = parsed.get(entries);
  if (!proxies) {
    proxies = parseTrustedProxies(entries);
    parsed.set(entries, proxies);
  }
  return proxies;
}

/** The socket peer; undefined under app.request() in tests, which has no socket. */
function peerAddress(c: Context): string | undefined {
  try {
    const address = getConnInfo(c).remote.address;
    return address ? plainAddress(address) : undefined;
  } catch {
    return undefined;
  }
}

/** One X-Forwarded-For hop without a port or brackets ("[::1]:80", "10.0.0.1:5000"); capped, as it is only a claim. */
function hopAddress(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return plainAddress(bracketed[1]!);
  const withPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  if (withPort) return withPort[1]!;
  return plainAddress(hop.slice(0, 64));
}

/** Whether the socket peer is a trusted proxy, whose forwarding headers we may believe. */
function fromTrustedProxy(c: Context<AppEnv>): boolean {
  const peer = peerAddress(c);
  return peer !== undefined && trustedProxiesOf(c).has(peer);
}

/**
 * The client's address. Behind trusted proxies, X-Forwarded-For's right-most hop that is not
 * itself a trusted proxy: each proxy appends the peer it saw, so hops left of that one are
 * whatever the client wrote and are never believed. From any other peer the header is ignored.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const peer = peerAddress(c);
  if (peer === undefined) return "unknown";
  const trusted = trustedProxiesOf(c);
  if (!trusted.has(peer)) return peer;
  const hops = c.req
    .raw.headers.get("x-forwarded-for")
    ?.split(",")
    .map((hop) => hop.trim())
    .filter(Boolean)
    .map(hopAddress) ?? [];
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  // Every hop is a proxy of ours: the left-most is as close to the client as we can tell.
  return hops[0] ?? peer;
}

/**
 * Whether the browser reached us over https: the request URL says so, a trusted proxy says so
 * in X-Forwarded-Proto (its right-most value, the one the nearest proxy set), or the server's
 * public URL (GANTRY_PUBLIC_URL) is https, so browsers only ever see it that way.
 */
export function requestIsHttps(c: Context<AppEnv>): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  if (c.get("deps").config.publicUrl?.toLowerCase().startsWith("https:")) return true;
  if (!fromTrustedProxy(c)) return false;
  return c.req.header("x-forwarded-proto")?.split(",").at(-1)?.trim().toLowerCase() === "https";
}
