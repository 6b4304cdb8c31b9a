// API tokens: random secrets shown once, stored as sha256 hashes, with roles, expiry
// and revocation; plus the bootstrap token of a fresh install.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { countTokens, findTokenByHash, getToken, insertToken, type NewTokenRow, type TokenRow } from "../db/repos/tokens.ts";
import { getUser, type UserRow } from "../db/repos/users.ts";
import { UnauthorizedError, ValidationError } from "../domain/errors.ts";
import type { Permission } from "../domain/permissions.ts";
import { checkGrantable } from "./roles.ts";

export const TOKEN_PREFIX = "gty_";

export function hashTokenSecret(secret: string): string {
  return new Bun.CryptoHasher("sha256").update(secret).digest("hex");
}

/** Random bytes as base64url text: token secrets, login codes, session ids. */
export function randomBase64Url(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");
}

export interface NewToken {
  name: string;
  roles: string[];
  /** Permissions of the token itself, beside its roles. */
  permissions?: Permission[];
  expiresAt?: Date;
  /**
   * Set by the engine alone, for a token it hands to a task: the run (its run key string), the
   * task and what the token is for. Run clean-up finds run tokens by these, never by name.
   */
  issuedTo?: { run: string; task: string; scope: "api" | "objects" | "bundle" };
  /** The person the token belongs to (a personal token, or the token of a sign-in). */
  userId?: string;
  /** Made by a sign-in to carry that person's session (hidden from token lists). */
  signIn?: boolean;
}

/** A new token's row and its secret, not stored yet (for callers that queue the insert). */
export function prepareToken(token: NewToken, now: Date): { row: NewTokenRow; secret: string } {
  const secret = `${TOKEN_PREFIX}${randomBase64Url(32)}`;
  const row = {
    id: randomBase64Url(9).replace(/[-_]/g, "x").toLowerCase(),
    name: token.name,
    hash: hashTokenSecret(secret),
    roles: token.roles,
    permissions: token.permissions ?? null,
    run: token.issuedTo?.run ?? null,
    task: token.issuedTo?.task ?? null,
    scope: token.issuedTo?.scope ?? null,
    userId: token.userId ?? null,
    signIn: token.signIn ?? false,
    createdAt: now,
    expiresAt: token.expiresAt ?? null,
  };
  return { row, secret };
}

export async function createToken(db: Db, token: NewToken, now: Date): Promise<{ token: TokenRow; secret: string }> {
  const { row, secret } = prepareToken(token, now);
  return { token: await insertToken(db, row), secret };
}

/**
 * Creates a token on behalf of `caller` (API and web alike): every role must exist, the new
 * token may not grant anything the caller cannot do itself, and an expiry lies in the future.
 */
export async function issueToken(
  db: Db,
  caller: { token: TokenRow; permissions: readonly Permission[] },
  wanted: { name: string; roles: string[]; expiresAt?: Date },
  now: Date,
): Promise<{ token: TokenRow; secret: string }> {
  await checkGrantable(db, caller.permissions, wanted.roles);
  if (wanted.expiresAt && wanted.expiresAt.getTime() <= now.getTime()) throw new ValidationError("expiresAt: must be in the future");
  // A token a signed-in person makes is theirs: it dies when they are disabled.
  return createToken(
    db,
    {
      name: wanted.name,
      roles: wanted.roles,
      ...(wanted.expiresAt && { expiresAt: wanted.expiresAt }),
      ...(caller.token.userId && { userId: caller.token.userId }),
    },
    now,
  );
}

/** Whether `target` is one of the caller's own personal tokens, which a person may revoke without tokens:write. */
export function isOwnPersonalToken(caller: TokenRow, target: TokenRow | undefined): boolean {
  return target !== undefined && !target.signIn && target.userId !== null && target.userId === caller.userId;
}

/** Why a token no longer opens anything, or undefined while it does. */
export function tokenProblem(token: TokenRow, now: Date): "revoked" | "expired" | undefined {
  if (token.revokedAt) return "revoked";
  if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) return "expired";
  return undefined;
}

/** The token with this id while it still opens anything (sessions and open streams re-check it). */
export async function activeToken(db: Db, id: string, now: Date): Promise<TokenRow | undefined> {
  const token = await getToken(db, id);
  return token && !tokenProblem(token, now) && !(await ownerProblem(db, token)) ? token : undefined;
}

/**
 * A person's token opens nothing once they are disabled, whatever raced with that (a sign-in
 * that made its token just as an admin disabled them): the person is asked, not only the token.
 */
async function ownerProblem(db: Db, token: TokenRow): Promise<"user disabled" | undefined> {
  if (!token.userId) return undefined;
  const owner = await ownerOf(db, token);
  return !owner || owner.disabledAt ? "user disabled" : undefined;
}

/** Owners read for token rows of this request: the row a request authenticated with is read once, with its person. */
const owners = new WeakMap<TokenRow, UserRow | undefined>();

/**
 * The person a token belongs to (undefined for tokens of nobody, or a person gone), read
 * once per token row: authenticating and then working out its roles ask for the same one.
 */
export async function ownerOf(db: Db, token: TokenRow): Promise<UserRow | undefined> {
  if (!token.userId) return undefined;
  if (owners.has(token)) return owners.get(token);
  const owner = await getUser(db, token.userId);
  owners.set(token, owner);
  return owner;
}

/** The token behind a bearer secret, or UnauthorizedError saying why not. */
export async function authenticate(db: Db, secret: string, now: Date): Promise<TokenRow> {
  const row = await findTokenByHash(db, hashTokenSecret(secret));
  if (!row) throw new UnauthorizedError("invalid token");
  const problem = tokenProblem(row, now) ?? (await ownerProblem(db, row));
  if (problem) throw new UnauthorizedError(problem === "user disabled" ? "the token's owner is disabled" : `token ${problem}`);
  return row;
}

/**
 * On a fresh install (no tokens at all) creates an all-permissions token and writes it
 * to `<data>/bootstrap-token` (0600), the one place it is ever kept in clear. Returns its id
 * and secret, or undefined when tokens exist.
 */
export async function ensureBootstrapToken(db: Db, dataDir: string, now: Date): Promise<{ id: string; secret: string } | undefined> {
  // Counted and created in one transaction: servers starting at once on a fresh database make one.
  const created = await db.transaction(async (tx) => {
    if ((await countTokens(tx)) > 0) return undefined;
    const { row, secret } = prepareToken({ name: "bootstrap", roles: ["admin"] }, now);
    return { token: await insertToken(tx, row), secret };
  });
  if (!created) return undefined;
  const { token, secret } = created;
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, "bootstrap-token");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  // The mode above applies only to a new file; one left from an earlier install is narrowed too.
  chmodSync(file, 0o600);
  return { id: token.id, secret };
}
