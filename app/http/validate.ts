// Request validation with valibot; a failure becomes a 400 that names the field.
import { vValidator } from "@hono/valibot-validator";
import type { ValidationTargets } from "hono";
import * as v from "valibot";
import { ValidationError } from "../domain/errors.ts";

export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = v.getDotPath(issue);
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

export function validate<Target extends keyof ValidationTargets, Schema extends v.GenericSchema>(
  target: Target,
  schema: Schema,
) {
  return vValidator(target, schema, (result) => {
    if (!result.success) throw new ValidationError(`invalid ${target === "json" ? "body" : target}: ${describeIssues(result.issues)}`);
  });
}
