// One-time login codes: the first-start link carries one instead of the admin token. A code is
// random, stored only as a hash, tied to a token, works once (exchanged by POST, never by GET)
// and for 15 minutes; a used or expired one says so.
import type { Db } from "../db/client.ts";
import { deleteStaleLoginCodes, getLoginCode, insertLoginCode, takeLoginCode } from "../db/repos/login-codes.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { UnauthorizedError } from "../domain/errors.ts";
import { activeToken, hashTokenSecret, randomBase64Url } from "./tokens.ts";

export const LOGIN_CODE_TTL_MS = 15 * 60_000;
/** Tells a login code from a token at a glance (and in the failed-login limiter's prefix). */
export const LOGIN_CODE_PREFIX = "glc_";

/** Where the person who lost the link can still log in from. */
const FALLBACK = "log in with the token in the data dir's bootstrap-token file instead";

/** A new code for `tokenId`; only its hash is stored. */
export async function createLoginCode(db: Db, tokenId: string, now: Date): Promise<{ code: string; expiresAt: Date }> {
  // Old codes are of no use to anyone: they go when a new one is made.
  await deleteStaleLoginCodes(db, now);
  const code = `${LOGIN_CODE_PREFIX}${randomBase64Url(32)}`;
  const expiresAt = new Date(now.getTime() + LOGIN_CODE_TTL_MS);
  await insertLoginCode(db, { hash: hashTokenSecret(code), tokenId, createdAt: now, expiresAt, usedAt: null });
  return { code, expiresAt };
}

/** Why a code would not log in, or undefined while it would (checked without using it). */
export async function loginCodeProblem(db: Db, code: string, now: Date): Promise<string | undefined> {
  const row = await getLoginCode(db, hashTokenSecret(code));
  if (!row) return `this login link is not valid; ${FALLBACK}`;
  if (row.usedAt) return `this login link was already used (each works once); ${FALLBACK}`;
  if (row.expiresAt.getTime() <= now.getTime()) return `this login link expired (links work for ${LOGIN_CODE_TTL_MS / 60_000} minutes); ${FALLBACK}`;
  if (!(await activeToken(db, row.tokenId, now))) return "the token behind this login link is revoked or expired";
  return undefined;
}

/** Uses the code (once) and returns the token it logs in as, or UnauthorizedError saying why not. */
export async function redeemLoginCode(db: Db, code: string, now: Date): Promise<TokenRow> {
  const taken = await takeLoginCode(db, hashTokenSecret(code), now);
  if (!taken) throw new UnauthorizedError((await loginCodeProblem(db, code, now)) ?? "this login link is not valid");
  const token = await activeToken(db, taken.tokenId, now);
  if (!token) throw new UnauthorizedError("the token behind this login link is revoked or expired");
  return token;
}
