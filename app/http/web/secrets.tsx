// Web pages: /secrets: set and delete secrets.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const secretPages = new Hono<AppEnv>();
