// Web pages: /events: the event log with a live tail.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const eventPages = new Hono<AppEnv>();
