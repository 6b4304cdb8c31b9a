// Reading the forms of the web pages: a parsed body's fields (missing, a file or repeated) as
// text, and a valibot issue as the line a form shows above its fields.
import * as v from "valibot";

/** A field's text, or "" when it is missing (or a file). */
export const formText = (value: unknown): string => (typeof value === "string" ? value : "");

/** Every text of a field that may repeat, such as checkboxes (from parseBody({ all: true })). */
export const formTexts = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((item): item is string => typeof item === "string");

/** "Name: must be ...": the issue with its field's label (from `labels`, else the field's name). */
export function fieldIssue(issue: v.BaseIssue<unknown>, labels: Record<string, string>): string {
  const field = v.getDotPath(issue);
  return field ? `${labels[field] ?? field}: ${issue.message}` : issue.message;
}
