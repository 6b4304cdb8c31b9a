// The Hono environment every router shares: the composition root and the caller's token.
import type { Deps } from "../deps.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import type { Permission } from "../domain/permissions.ts";
import type { ActiveSession } from "../auth/sessions.ts";

export interface AppEnv {
  Variables: {
    deps: Deps;
    token: TokenRow;
    /** What the token may do, resolved once per request. */
    permissions: Permission[];
    /** The web session, on pages behind a login. */
    session: ActiveSession;
  };
}
