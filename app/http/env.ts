// The Hono environment every router shares: the composition root and the caller's token.
import type { Deps } from "../deps.ts";
import type { TokenRow } from "../db/repos/tokens.ts";

export interface AppEnv {
  Variables: {
    deps: Deps;
    token: TokenRow;
  };
}
