// A caller as an approval gate sees them (their person or token, roles, and whether they
// hold runs:approve on the pipeline), and as the starter of a run.
import type { TokenRow } from "../db/repos/tokens.ts";
import type { Decider, RunActor } from "../domain/approvals.ts";
import { allows, type Permission } from "../domain/permissions.ts";

/** Who starts a run with this token: the person behind it, or the token itself. */
export function actorOf(token: Pick<TokenRow, "id" | "name" | "userId">): RunActor {
  return token.userId ? { name: token.name, userId: token.userId } : { name: token.name, tokenId: token.id };
}

/** The caller deciding a gate of a run of `namespace/pipeline`. */
export function deciderOf(token: Pick<TokenRow, "id" | "name" | "userId" | "roles">, permissions: readonly Permission[], namespace: string, pipeline: string): Decider {
  return {
    name: token.name,
    ...(token.userId && { userId: token.userId }),
    tokenId: token.id,
    roles: token.roles,
    mayApprove: allows(permissions, "runs", "approve", `${namespace}/${pipeline}`),
  };
}
