// A caller as an approval gate sees them (their person or token, the roles they hold now,
// and whether they hold runs:approve on the pipeline), and as the starter of a run. Names
// are the person's, never a personal token's own (its holder chose it).
import type { Db } from "../db/client.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import type { Decider, RunActor } from "../domain/approvals.ts";
import { allows, type Permission } from "../domain/permissions.ts";
import { tokenHolder } from "./roles.ts";

/** Who starts a run with this token: the person behind it, or the token itself. */
export async function actorOf(db: Db, token: TokenRow): Promise<RunActor> {
  const { name } = await tokenHolder(db, token);
  return token.userId ? { name, userId: token.userId } : { name, tokenId: token.id };
}

/** The caller deciding (or looking at) gates of runs; `pipelineAllows(ns, id)` says whether they hold runs:approve there. */
export async function callerAsDecider(db: Db, token: TokenRow, permissions: readonly Permission[]): Promise<(namespace: string, pipeline: string) => Decider> {
  const { name, roles } = await tokenHolder(db, token);
  return (namespace, pipeline) => ({
    name,
    ...(token.userId && { userId: token.userId }),
    tokenId: token.id,
    roles,
    mayApprove: allows(permissions, "runs", "approve", `${namespace}/${pipeline}`),
  });
}

/** The caller deciding a gate of a run of `namespace/pipeline`. */
export async function deciderOf(db: Db, token: TokenRow, permissions: readonly Permission[], namespace: string, pipeline: string): Promise<Decider> {
  return (await callerAsDecider(db, token, permissions))(namespace, pipeline);
}
