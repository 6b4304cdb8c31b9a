// The warning every page shows while pipeline code is not sandboxed: an admin turned the
// sandbox off (code runs with the server's rights), or it cannot run here (code is refused).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { SandboxStatus } from "../../../engine/executors/run-sandbox.ts";

export function SandboxBanner({ sandbox }: { sandbox: SandboxStatus | undefined }) {
  if (!sandbox || sandbox.state === "on") return null;
  return (
    <div id="sandbox-banner" class="paused-banner sandbox-banner" role="status">
      <p>
        <span aria-hidden="true">⚠ </span>
        {sandbox.state === "off" ? (
          <>
            <strong>The run() sandbox is off</strong>
            {" (GANTRY_RUN_SANDBOX=off): run() tasks and pipeline imports run with the server's rights and can read its data directory."}
          </>
        ) : (
          <>
            <strong>run() tasks are refused</strong>
            {`: ${sandbox.reason}. Install bubblewrap, or an admin may set GANTRY_RUN_SANDBOX=off.`}
          </>
        )}
      </p>
    </div>
  );
}

/** The sandbox's state in words, for the dashboard's health card. */
export function SandboxState({ sandbox }: { sandbox: SandboxStatus }) {
  if (sandbox.state === "on") {
    return (
      <>
        <span class="dash-health-state tone-ok">
          <span aria-hidden="true">✓</span> on
        </span>{" "}
        <span class="muted">bubblewrap{sandbox.user ? `, as ${sandbox.user.name}` : ", user namespaces"}</span>
      </>
    );
  }
  return (
    <>
      <span class={`dash-health-state ${sandbox.state === "off" ? "tone-warn" : "tone-bad"}`}>
        <span aria-hidden="true">{sandbox.state === "off" ? "⚠" : "✗"}</span> {sandbox.state === "off" ? "sandbox is off" : "unavailable"}
      </span>
      {sandbox.state === "unavailable" && <span class="dash-health-detail">{sandbox.reason}</span>}
    </>
  );
}
