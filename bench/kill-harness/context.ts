// What every phase of a harness run shares: its settings, folder, server, records and report.
import type { Containers } from "./leftovers.ts";
import type { KillHarnessSettings } from "./options.ts";
import type { KillReport } from "./report.ts";
import type { Servers } from "./server.ts";
import type { HarnessState } from "./state.ts";
import type { Paths } from "./workdir.ts";

export interface Harness {
  settings: KillHarnessSettings;
  /** performance.now() when the harness began. */
  began: number;
  paths: Paths;
  state: HarnessState;
  report: KillReport;
  servers: Servers;
  containers: Containers;
  /** The current server's JSON API, with the bootstrap token. */
  api: (path: string, init?: RequestInit) => Promise<Response>;
}
