// Writes app/client/api-types.ts: TypeScript types of every API route (path and query
// parameters, body, answers by status) from the OpenAPI document, which the routes' own
// valibot schemas make (app/http/api/openapi.ts). The typed client (app/client/index.ts,
// "gantry/client") is openapi-fetch over these types. The test suite fails when the file is
// out of date: run `npm run api:types` after changing a route.
// Usage: bun scripts/api-types.ts [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Deps } from "../app/deps.ts";
import { openApiDocument } from "../app/http/api/openapi.ts";
import { createServer } from "../app/server.ts";

export const API_TYPES_FILE = join(import.meta.dir, "..", "app", "client", "api-types.ts");

interface JsonSchema {
  type?: string | string[];
  $ref?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  description?: string;
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonSchema;
}

interface Operation {
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
const pad = (depth: number) => "  ".repeat(depth);

/** A JSON Schema (as valibot's to-json-schema writes them) as a TypeScript type. */
export function typeOf(schema: JsonSchema | undefined, depth = 0): string {
  if (!schema || Object.keys(schema).filter((name) => name !== "description" && name !== "default").length === 0) return "unknown";
  if (schema.$ref) return `components["schemas"][${JSON.stringify(schema.$ref.split("/").pop())}]`;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.map((each) => `(${typeOf(each, depth)})`).join(" | ");
  if (schema.allOf) return schema.allOf.map((each) => `(${typeOf(each, depth)})`).join(" & ");
  if (Array.isArray(schema.type)) return schema.type.map((type) => typeOf({ ...schema, type }, depth)).join(" | ");
  switch (schema.type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return schema.prefixItems ? `[${schema.prefixItems.map((each) => typeOf(each, depth)).join(", ")}]` : `(${typeOf(schema.items, depth)})[]`;
    case "object": {
      const required = new Set(schema.required ?? []);
      const fields = Object.entries(schema.properties ?? {}).map(
        ([name, property]) => `${pad(depth + 1)}${key(name)}${required.has(name) ? "" : "?"}: ${typeOf(property, depth + 1)};`,
      );
      const extra = schema.additionalProperties;
      // Named fields beside any others: the index signature must admit theirs too.
      if (extra !== undefined && extra !== false) {
        const other = extra === true ? "unknown" : typeOf(extra, depth + 1);
        fields.push(`${pad(depth + 1)}[key: string]: ${fields.length > 0 ? "unknown" : other};`);
      }
      return fields.length === 0 ? "Record<string, never>" : `{\n${fields.join("\n")}\n${pad(depth)}}`;
    }
    default:
      return "unknown";
  }
}

/** One operation in openapi-typescript's shape, which openapi-fetch reads. */
function operationType(operation: Operation, depth: number): string {
  const inner = pad(depth + 1);
  const parameters = operation.parameters ?? [];
  const group = (where: Parameter["in"]) => {
    const these = parameters.filter((parameter) => parameter.in === where);
    if (these.length === 0) return `${pad(depth + 2)}${where}?: never;`;
    const optional = these.every((parameter) => !parameter.required);
    const fields = these.map((parameter) => `${pad(depth + 3)}${key(parameter.name)}${parameter.required ? "" : "?"}: ${typeOf(parameter.schema, depth + 3)};`);
    return `${pad(depth + 2)}${where}${optional ? "?" : ""}: {\n${fields.join("\n")}\n${pad(depth + 2)}};`;
  };
  const content = (media: Record<string, { schema?: JsonSchema }> | undefined, level: number) =>
    media
      ? `{\n${Object.entries(media)
          .map(([type, { schema }]) => `${pad(level + 1)}${JSON.stringify(type)}: ${type.includes("json") ? typeOf(schema, level + 1) : "string"};`)
          .join("\n")}\n${pad(level)}}`
      : "never";
  const body = operation.requestBody
    ? `${inner}requestBody${operation.requestBody.required ? "" : "?"}: {\n${pad(depth + 2)}content: ${content(operation.requestBody.content, depth + 2)};\n${inner}};`
    : `${inner}requestBody?: never;`;
  const responses = Object.entries(operation.responses).map(
    ([status, answer]) =>
      `${pad(depth + 2)}${/^\d+$/.test(status) ? status : JSON.stringify(status)}: {\n${pad(depth + 3)}headers: { [name: string]: unknown };\n${pad(depth + 3)}content: ${content(answer.content, depth + 3)};\n${pad(depth + 2)}};`,
  );
  return [
    "{",
    `${inner}parameters: {`,
    group("query"),
    `${pad(depth + 2)}header?: never;`,
    group("path"),
    `${pad(depth + 2)}cookie?: never;`,
    `${inner}};`,
    body,
    `${inner}responses: {`,
    ...responses,
    `${inner}};`,
    `${pad(depth)}}`,
  ].join("\n");
}

/** The types module for a document. */
export function apiTypesSource(document: Document): string {
  const lines = [
    "// Generated by scripts/api-types.ts from the OpenAPI document (GET /api/v1/openapi.json); do not edit.",
    "// Every route of the API: its parameters, body and answers, for the typed client (index.ts).",
    "/* eslint-disable */",
    "",
    "export interface paths {",
  ];
  for (const [path, operations] of Object.entries(document.paths)) {
    lines.push(`  ${JSON.stringify(path)}: {`);
    for (const [method, operation] of Object.entries(operations)) {
      if (operation.summary) lines.push(`    /** ${operation.summary.replaceAll("*/", "* /")} */`);
      lines.push(`    ${method}: ${operationType(operation, 2)};`);
    }
    lines.push("  };");
  }
  lines.push("}", "", "export interface components {", "  schemas: {");
  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) lines.push(`    ${key(name)}: ${typeOf(schema, 2)};`);
  lines.push("  };", "}", "");
  return lines.join("\n");
}

/** The document of the app as the server makes it (the routes need only their limits' settings to be made). */
export async function currentApiTypes(): Promise<string> {
  const deps = { config: { apiMaxBody: 1, objectMaxBytes: 1 } } as unknown as Deps;
  return apiTypesSource((await openApiDocument(createServer(deps))) as unknown as Document);
}

if (import.meta.main) {
  const source = await currentApiTypes();
  if (process.argv.includes("--check")) {
    const current = readFileSync(API_TYPES_FILE, "utf8");
    if (current !== source) {
      console.error(`${API_TYPES_FILE} is out of date: run npm run api:types`);
      process.exit(1);
    }
  } else {
    writeFileSync(API_TYPES_FILE, source);
    console.log(`wrote ${API_TYPES_FILE}`);
  }
}
