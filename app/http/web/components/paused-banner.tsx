// The banner every page shows while runs are paused: who paused them and since when, and a
// Resume button for those who may (system:write).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { PageSession } from "../layouts/page.tsx";
import { PauseSwitch } from "./pause-switch.tsx";
import { When } from "./time.tsx";

export function PausedBanner({ session }: { session: PageSession }) {
  const { paused } = session;
  if (!paused) return null;
  return (
    <div id="paused-banner" class="paused-banner" role="status">
      <p>
        <span aria-hidden="true">‖ </span>
        <strong>Runs are paused</strong>
        {" ("}
        {paused.by && `by ${paused.by}, `}
        {"since "}
        <When date={paused.at} now={session.now} />
        {"): new runs wait in the queue."}
      </p>
      {session.canPause && <PauseSwitch session={session} paused id="banner-resume" />}
    </div>
  );
}
