// Every table, for drizzle and drizzle-kit.
export * from "./pipelines.ts";
export * from "./pipeline-versions.ts";
export * from "./runs.ts";
export * from "./task-executions.ts";
export * from "./events.ts";
export * from "./tokens.ts";
export * from "./secrets.ts";
export * from "./roles.ts";
export * from "./sessions.ts";
export * from "./objects.ts";
export * from "./subscriptions.ts";
export * from "./deliveries.ts";
export * from "./extension-state.ts";
export * from "./task-attempts.ts";
export * from "./nodes.ts";
export * from "./system-state.ts";
export * from "./login-codes.ts";
