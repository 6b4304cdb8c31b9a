// Permissions: `{ resource, target, actions }`. A target is a regular expression matched in
// full against "<namespace>/<pipeline>" for what belongs to a pipeline, "global" for global
// secrets and objects, and "*" for server-wide resources (tokens, roles, events).
import * as v from "valibot";

/**
 * "backups": making one (write) hands out every log, object and encrypted secret, so it is its own grant, beside "system".
 * "users": people who sign in (read: see them; write: disable, enable, grant and revoke their roles).
 * "sources": git repositories pipelines come from, targeted by source name (read: see them; write: add, change, remove, sync).
 * "environments": deployment targets, targeted by environment name (read: see them, what runs there and their
 * deployments, test the connection; write: create, change, remove).
 */
export const RESOURCES = ["pipelines", "runs", "logs", "secrets", "objects", "events", "tokens", "roles", "extensions", "system", "backups", "users", "sources", "environments"] as const;
export type Resource = (typeof RESOURCES)[number];
/**
 * "approve": decide approval gates of a pipeline's runs (resource "runs").
 * "exec": open a shell or run a command in a running container task (resource "runs"); its
 * own action, as it reaches everything the task can (its secrets, its network), which runs:write does not.
 */
export const ACTIONS = ["read", "write", "approve", "exec"] as const;
export type Action = (typeof ACTIONS)[number];

/** The target of server-wide resources. */
export const SERVER_TARGET = "*";

export const permissionSchema = v.strictObject({
  resource: v.picklist([...RESOURCES, "*"], `must be one of ${RESOURCES.join(", ")} or *`),
  target: v.pipe(
    v.string(),
    v.minLength(1, "must not be empty"),
    v.check((pattern) => {
      try {
        new RegExp(pattern);
        return true;
      } catch {
        return false;
      }
    }, "must be a valid regular expression"),
  ),
  actions: v.pipe(v.array(v.picklist(ACTIONS, 'must be "read", "write", "approve" or "exec"')), v.minLength(1, "must name at least one action")),
});

export type Permission = v.InferOutput<typeof permissionSchema>;

// Every route check and every row of a filtered list tests targets: each pattern is compiled
// once. Patterns come from roles and tokens, so there are few; the bound only guards against
// roles edited without end.
const MAX_COMPILED_TARGETS = 1000;
const compiledTargets = new Map<string, RegExp>();

function targetPattern(target: string): RegExp {
  let pattern = compiledTargets.get(target);
  if (!pattern) {
    if (compiledTargets.size >= MAX_COMPILED_TARGETS) compiledTargets.clear();
    pattern = new RegExp(`^(?:${target})$`);
    compiledTargets.set(target, pattern);
  }
  return pattern;
}

export function allows(permissions: readonly Permission[], resource: Resource, action: Action, target: string): boolean {
  return permissions.some(
    (permission) =>
      (permission.resource === "*" || permission.resource === resource) &&
      permission.actions.includes(action) &&
      targetPattern(permission.target).test(target),
  );
}

/** Whether any grant allows `action` on some target of `resource` (which one is checked where it is named). */
export function allowsSome(permissions: readonly Permission[], resource: Resource, action: Action): boolean {
  return permissions.some((permission) => (permission.resource === "*" || permission.resource === resource) && permission.actions.includes(action));
}

/** Regex-escapes a pipeline key for a permission limited to exactly that pipeline. */
export function exactTarget(namespace: string, pipeline: string): string {
  return `${namespace}/${pipeline}`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Whether `held` includes everything `wanted` grants. Targets are compared as text (a
 * regex's language is not compared): a held ".*" covers any target, otherwise the same
 * pattern is needed.
 */
export function covers(held: readonly Permission[], wanted: Permission): boolean {
  return wanted.actions.every((action) =>
    held.some(
      (permission) =>
        (permission.resource === "*" || permission.resource === wanted.resource) &&
        permission.actions.includes(action) &&
        (permission.target === ".*" || permission.target === wanted.target),
    ),
  );
}
