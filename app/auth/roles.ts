// Built-in roles and the permission check. Custom roles with per-resource permissions
// come with the roles issue; until then a token is an admin or a read-only viewer.
import { ForbiddenError } from "../domain/errors.ts";
import type { TokenRow } from "../db/repos/tokens.ts";

export const BUILT_IN_ROLES = ["admin", "viewer"] as const;
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

export type Action = "read" | "write";

export function isKnownRole(role: string): role is BuiltInRole {
  return (BUILT_IN_ROLES as readonly string[]).includes(role);
}

/** Throws ForbiddenError naming what is missing when the token may not act. */
export function requirePermission(token: TokenRow, resource: string, action: Action): void {
  if (token.roles.includes("admin")) return;
  if (action === "read" && token.roles.includes("viewer")) return;
  throw new ForbiddenError(`token "${token.name}" lacks permission ${action} on ${resource}`);
}
