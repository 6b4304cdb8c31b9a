// What adding or changing a git source takes beyond sources:write. A source writes pipeline code
// into its namespace, and that code can read the global secrets tasks may use (its own auth
// secret included): so it takes the right to write every pipeline of that namespace.
import type { Context } from "hono";
import { requirePermission, type PermissionContext } from "./roles.ts";
import type { SourceSettings } from "../domain/sources.ts";

/** The target standing for every pipeline of a namespace: a grant's pattern must match it in full. */
export const namespaceTarget = (namespace: string) => `${namespace}/*`;

/** Throws ForbiddenError unless the caller may write every pipeline of the source's namespace. */
export function requireSourceRights<E extends PermissionContext>(c: Context<E>, settings: SourceSettings): void {
  requirePermission(c, "pipelines", "write", namespaceTarget(settings.namespace));
}
