// Web sessions: a token is exchanged for a jose-signed (HS256, pinned on verify) cookie that
// names a session row; idle and absolute expiry; logout ends the row, so a copied cookie
// dies with it. The signing key lives in the data dir, so sessions survive a restart.
// jose by subpath: its index loads every JWE/JWK module the server never uses.
import { SignJWT } from "jose/jwt/sign";
import { jwtVerify } from "jose/jwt/verify";
import type { Db } from "../db/client.ts";
import { endSession, getSession, insertSession, touchSession, type SessionRow } from "../db/repos/sessions.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { sameSecret } from "../domain/same-secret.ts";
import { loadKeyFile } from "../stores/secret-key.ts";
import { activeToken } from "./tokens.ts";

/** The cookie's name over http; over https it is `__Host-` prefixed (see http/middleware/session.ts). */
export const SESSION_COOKIE = "gantry_session";
const ISSUER = "gantry";

export interface SessionManagerOptions {
  db: Db;
  dataDir: string;
  idleMs: number;
  maxAgeMs: number;
  now: () => Date;
}

export interface ActiveSession {
  session: SessionRow;
  token: TokenRow;
  /** Proof for state-changing requests, bound to this session. */
  csrfToken: string;
}

export interface SessionManager {
  /** A new session for a token; returns the cookie value. */
  create(token: TokenRow): Promise<{ cookie: string; session: ActiveSession }>;
  /** The live session behind a cookie, or undefined (expired, ended, tampered, token revoked). */
  /**
   * The live session a cookie names. A request counts as activity (idle expiry starts over);
   * `{ activity: false }` only checks, as open live streams do, so a forgotten tab still idles out.
   */
  verify(cookie: string | undefined, options?: { activity?: boolean }): Promise<ActiveSession | undefined>;
  end(sessionId: string): Promise<void>;
  /** Whether a CSRF token belongs to the session. */
  checkCsrf(session: ActiveSession, presented: string | undefined): boolean;
  readonly maxAgeSeconds: number;
}

export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const key = loadKeyFile(options.dataDir, "session-key");
  const csrfFor = (sessionId: string) => new Bun.CryptoHasher("sha256", key).update(`csrf:${sessionId}`).digest("base64url");

  const active = (session: SessionRow, token: TokenRow): ActiveSession => ({ session, token, csrfToken: csrfFor(session.id) });

  return {
    maxAgeSeconds: Math.floor(options.maxAgeMs / 1000),
    async create(token) {
      const now = options.now();
      const session: SessionRow = {
        id: Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url"),
        tokenId: token.id,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + options.maxAgeMs),
        endedAt: null,
      };
      await insertSession(options.db, session);
      const cookie = await new SignJWT({ sid: session.id })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(ISSUER)
        .setIssuedAt(Math.floor(now.getTime() / 1000))
        .setExpirationTime(Math.floor(session.expiresAt.getTime() / 1000))
        .sign(key);
      return { cookie, session: active(session, token) };
    },
    async verify(cookie, check = {}) {
      if (!cookie) return undefined;
      const now = options.now();
      let sid: unknown;
      try {
        // HS256 only: a token signed with "none" or another algorithm is refused.
        const { payload } = await jwtVerify(cookie, key, { algorithms: ["HS256"], issuer: ISSUER, currentDate: now });
        sid = payload.sid;
      } catch {
        return undefined;
      }
      if (typeof sid !== "string") return undefined;
      const session = await getSession(options.db, sid);
      if (!session || session.endedAt) return undefined;
      if (session.expiresAt.getTime() <= now.getTime()) return undefined;
      if (now.getTime() - session.lastSeenAt.getTime() > options.idleMs) {
        await endSession(options.db, session.id, now);
        return undefined;
      }
      const token = await activeToken(options.db, session.tokenId, now);
      if (!token) return undefined;
      // Writing on every request would cost a commit each; a minute of slack is plenty for idle expiry.
      if (check.activity !== false && now.getTime() - session.lastSeenAt.getTime() > 60_000) await touchSession(options.db, session.id, now);
      return active(session, token);
    },
    end: (sessionId) => endSession(options.db, sessionId, options.now()),
    checkCsrf(session, presented) {
      return presented !== undefined && sameSecret(presented, session.csrfToken);
    },
  };
}
