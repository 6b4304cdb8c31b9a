// What started a run, as every run list and the run page show it: "web by alice".
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunRow } from "../../../db/repos/runs.ts";

export function Trigger({ trigger }: { trigger: RunRow["trigger"] }) {
  // The title holds the whole text where a narrow column cuts it short.
  return (
    <span class="trigger" title={trigger.by ? `${trigger.kind} by ${trigger.by}` : trigger.kind}>
      <span class="trigger-kind">{trigger.kind}</span>
      {trigger.by && (
        <span class="muted">
          {" by "}
          <span class="trigger-by">{trigger.by}</span>
        </span>
      )}
    </span>
  );
}
