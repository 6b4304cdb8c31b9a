// What a browser carries between "sign in with…" and the provider's callback: state, nonce and
// PKCE verifier in a short-lived signed cookie bound to that browser, and each state used once.
// jose by subpath: its index loads every JWE/JWK module the server never uses.
import { SignJWT } from "jose/jwt/sign";
import { jwtVerify } from "jose/jwt/verify";
import * as v from "valibot";
import { loadKeyFile } from "../stores/secret-key.ts";
import type { Db } from "../db/client.ts";
import { takeSignInState } from "../db/repos/used-sign-in-states.ts";

export type SignInProvider = "oidc" | "github";

/** Why a sign-in was refused: written to the auth.failed event, never with a secret. */
export type SignInFailure =
  | "state_missing"
  | "state_mismatch"
  | "state_replayed"
  | "provider_error"
  | "token_rejected"
  | "profile_invalid"
  | "domain_not_allowed"
  | "user_disabled"
  | "unreachable"
  | "misconfigured";

/** A refused sign-in: `reason` for the event log, `message` for the person, `status` for the page. */
export class SignInError extends Error {
  constructor(
    readonly reason: SignInFailure,
    message: string,
    readonly status: 400 | 403 | 500 | 502 | 503 = 400,
  ) {
    super(message);
    this.name = "SignInError";
  }
}

/** The flow's secrets; `next` is where the person was going (a local path). */
export interface SignInFlow {
  provider: SignInProvider;
  state: string;
  nonce?: string;
  verifier: string;
  next: string;
}

const flowSchema = v.object({
  provider: v.picklist(["oidc", "github"]),
  state: v.pipe(v.string(), v.minLength(16)),
  nonce: v.optional(v.string()),
  verifier: v.pipe(v.string(), v.minLength(43)),
  next: v.string(),
});

/** How long a person may take at the provider (a login form, a second factor). */
export const FLOW_MAX_AGE_SECONDS = 600;
const ISSUER = "gantry-sign-in";

export interface SignInFlows {
  /** The cookie value that carries a flow. */
  seal(flow: SignInFlow): Promise<string>;
  /**
   * The flow a callback belongs to: the cookie must be intact and fresh, for this provider,
   * carry the state the provider sent back, and that state must not have been used before.
   */
  open(cookie: string | undefined, provider: SignInProvider, returnedState: string | undefined): Promise<SignInFlow>;
}

export function createSignInFlows(options: { db: Db; dataDir: string; now: () => Date }): SignInFlows {
  // Its own key: a flow cookie can never pass for a session cookie, nor the other way round.
  const key = loadKeyFile(options.dataDir, "sign-in-key");

  return {
    async seal(flow) {
      const now = Math.floor(options.now().getTime() / 1000);
      return new SignJWT({ ...flow })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(ISSUER)
        .setIssuedAt(now)
        .setExpirationTime(now + FLOW_MAX_AGE_SECONDS)
        .sign(key);
    },
    async open(cookie, provider, returnedState) {
      if (!cookie) throw new SignInError("state_missing", "this sign-in did not start in this browser, or took longer than 10 minutes; start again");
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(cookie, key, { algorithms: ["HS256"], issuer: ISSUER, currentDate: options.now() }));
      } catch {
        throw new SignInError("state_missing", "this sign-in expired or its cookie was altered; start again");
      }
      const parsed = v.safeParse(flowSchema, payload);
      if (!parsed.success || parsed.output.provider !== provider) throw new SignInError("state_mismatch", "this sign-in was started for another provider; start again");
      const flow = parsed.output;
      if (!returnedState || returnedState !== flow.state) throw new SignInError("state_mismatch", "the provider's answer does not belong to this sign-in (state mismatch)");
      // Used once, whichever server on this database the replay reaches (kept until the flow
      // would have expired anyway; the provider also takes each code once).
      const now = options.now();
      const hash = new Bun.CryptoHasher("sha256").update(flow.state).digest("hex");
      if (!(await takeSignInState(options.db, hash, new Date(now.getTime() + FLOW_MAX_AGE_SECONDS * 1000), now))) {
        throw new SignInError("state_replayed", "this sign-in answer was already used");
      }
      return flow;
    },
  };
}
