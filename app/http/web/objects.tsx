// Web pages: /pipelines/:ns/:id/objects: a pipeline's stored objects.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const objectPages = new Hono<AppEnv>();
