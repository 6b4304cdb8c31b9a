// Web pages: /extensions: extensions, their subscriptions and logs.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";

export const extensionPages = new Hono<AppEnv>();
