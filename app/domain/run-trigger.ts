// What started a run: its kind (api, web, cron, github, ...) and who or what.

export interface RunTrigger {
  kind: string;
  /** Who or what started it: a token name, a schedule, a delivery id. */
  by?: string;
}
