// The token a run's runner fetches its version's bundle with, where it has no bundle file at
// hand (a runner in a swarm service): scope "bundle", no permission of its own, so the bundle
// route of its own run is the one place it opens; revoked with the run's other tokens.
import { runTokenName, type NewTokenRow, type TokenRow } from "../db/repos/tokens.ts";
import { runKeyString, type RunKey } from "../domain/run-key.ts";
import { prepareToken } from "./tokens.ts";

/** The task column of a bundle token: one per run, not per task. */
export const BUNDLE_TOKEN_TASK = "bundle";

/** A new bundle token of `run`, not stored yet (the engine queues its insert). */
export function prepareBundleToken(run: RunKey, now: Date): { row: NewTokenRow; secret: string } {
  return prepareToken(
    {
      name: runTokenName(run, BUNDLE_TOKEN_TASK),
      roles: [],
      permissions: [],
      issuedTo: { run: runKeyString(run), task: BUNDLE_TOKEN_TASK, scope: "bundle" },
    },
    now,
  );
}

/**
 * Whether `token` is the bundle token of the run `runKey` ("ns/id#run", as the request names
 * it). Compared as text: a path that spells the run otherwise ("#01") is not its run.
 */
export function isBundleTokenOf(token: TokenRow, runKey: string): boolean {
  return token.scope === "bundle" && token.run !== null && token.run === runKey;
}
