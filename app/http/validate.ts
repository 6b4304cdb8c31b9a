// Request validation with valibot; a failure becomes a 400 that names the field. Each
// validator also carries its schema into the OpenAPI document (api/openapi.ts).
import { vValidator } from "@hono/valibot-validator";
import type { MiddlewareHandler, ValidationTargets } from "hono";
import { resolver, uniqueSymbol } from "hono-openapi";
import * as v from "valibot";
import { ValidationError } from "../domain/errors.ts";

/** Marks a JSON validator whose body may be left out. */
export const OPTIONAL_BODY = Symbol("optional body");

export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = v.getDotPath(issue);
      // valibot words an unknown key of a strict object as "Expected never but received ..."
      const message = issue.type === "strict_object" ? (issue.input === undefined ? "is required" : "unknown field") : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join("; ");
}

/**
 * `document: false`: the schema says nothing a document could show (a custom check that
 * names every problem itself); the route's doc({ body }) describes the body instead.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends v.GenericSchema>(
  target: Target,
  schema: Schema,
  options: { document?: false } = {},
) {
  const validator = vValidator(target, schema, (result) => {
    if (!result.success) throw new ValidationError(`invalid ${target === "json" ? "body" : target}: ${describeIssues(result.issues)}`);
  });
  // A body that may be left out (the schema takes {}, which an empty body stands for) is documented as optional (openapi.ts).
  const optionalBody = target === "json" && v.safeParse(schema, {}).success;
  const documented = <M extends object>(middleware: M): M =>
    options.document === false ? middleware : Object.assign(middleware, { [uniqueSymbol]: { target, ...resolver(schema) }, ...(optionalBody && { [OPTIONAL_BODY]: true }) });
  if (target !== "json") return documented(validator);
  // Hono skips a body whose Content-Type is not JSON (curl -d sends a form type), so
  // `{"variables": ...}` would be dropped without a word; refuse it instead.
  const jsonOnly: MiddlewareHandler = async (c, next) => {
    const type = c.req.header("content-type") ?? "";
    const hasBody = c.req.raw.body !== null && c.req.header("content-length") !== "0";
    if (hasBody && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      throw new ValidationError(`the request body must be JSON: send Content-Type: application/json (got ${type ? `"${type}"` : "none"})`);
    }
    // No body, or an empty one (curl -X POST with only the JSON header), means "no fields",
    // not malformed JSON. Hono keeps the text, so the validator can read it again.
    if (!hasBody || (await c.req.text()).trim() === "") {
      const parsed = v.safeParse(schema, {});
      if (!parsed.success) throw new ValidationError(`invalid body: ${describeIssues(parsed.issues)}`);
      c.req.addValidatedData("json", parsed.output as object);
      return next();
    }
    return validator(c, next);
  };
  // Same inputs and outputs as the validator it wraps, so c.req.valid("json") stays typed.
  return documented(jsonOnly) as typeof validator;
}
