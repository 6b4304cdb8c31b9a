// Web pages: /pipelines, one pipeline, starting runs.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const pipelinePages = new Hono<AppEnv>();
