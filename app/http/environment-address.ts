// Which environment a request under /environments/:name addresses, for the API and the web
// pages alike: its name, in the namespace `?namespace=` names, or among the shared ones (no
// namespace, or an empty one).
import type { Context } from "hono";
import * as v from "valibot";
import { environmentKey, ENVIRONMENT_NAME_RULE, type EnvironmentRef } from "../domain/environments.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import type { AppEnv } from "./env.ts";

/** `?namespace=`: a namespace's name, or empty for the shared ones. */
export const environmentNamespaceQuery = v.object({
  namespace: v.optional(v.pipe(v.string(), v.check((namespace) => namespace === "" || ID_PATTERN.test(namespace), `must be a namespace (${ENVIRONMENT_NAME_RULE})`))),
});

/** The environment addressed, read before anything is validated (the permission check comes first). */
export function addressedEnvironment(c: Context<AppEnv>): EnvironmentRef {
  const namespace = c.req.query("namespace");
  return { namespace: namespace === undefined || namespace === "" ? null : namespace, name: c.req.param("name") ?? "" };
}

/** The permission target of a route under /:name: the environment's key. */
export const addressedKey = (c: Context<AppEnv>): string => environmentKey(addressedEnvironment(c));
