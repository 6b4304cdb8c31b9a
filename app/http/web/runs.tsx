// Web pages: /pipelines/:ns/:id/runs/:run: live DAG, logs, cancel, re-run.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const runPages = new Hono<AppEnv>();
