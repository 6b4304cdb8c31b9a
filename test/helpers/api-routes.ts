// The API's routes as its OpenAPI document describes them (made from the routes themselves,
// app/http/api/openapi.ts): what the route-walking tests walk.
import type { Deps } from "../../app/deps.ts";
import { openApiDocument } from "../../app/http/api/openapi.ts";
import { createServer } from "../../app/server.ts";

export interface DocumentedRoute {
  method: "get" | "post" | "put" | "delete";
  /** As documented: "/pipelines/{ns}/{id}", under /api/v1. */
  path: string;
  summary: string;
  /** Needs a user token (false: public, or a container extension's own secret). */
  auth: boolean;
  /** Takes a request body. */
  body: boolean;
  /** Its (first) success status; 101 for a WebSocket (the exec route). */
  success: number;
  permission?: string;
}

interface Operation {
  summary: string;
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  "x-permission"?: string;
}

/** Every documented route, deletes last (a walk then finds what it deletes still there for the other routes). */
export async function documentedRoutes(deps: Deps): Promise<DocumentedRoute[]> {
  const document = await openApiDocument(createServer(deps));
  const routes = Object.entries(document.paths as unknown as Record<string, Record<string, Operation>>).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({
      method: method as DocumentedRoute["method"],
      path,
      summary: operation.summary,
      auth: !operation.security || operation.security.some((requirement) => "bearer" in requirement),
      body: operation.requestBody !== undefined,
      success: Number(Object.keys(operation.responses).find((status) => /^(2\d\d|101)$/.test(status))),
      ...(operation["x-permission"] && { permission: operation["x-permission"] }),
    })),
  );
  return [...routes.filter((route) => route.method !== "delete"), ...routes.filter((route) => route.method === "delete")];
}
