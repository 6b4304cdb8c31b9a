// The pause switch: one button that pauses runs (new ones wait queued) or resumes them,
// posting to /system/pause or /system/resume and coming back to the page it was on.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { CsrfField, type PageSession } from "../layouts/page.tsx";

export function PauseSwitch({ session, paused, id }: { session: PageSession; paused: boolean; id?: string }) {
  return (
    <form method="post" action={paused ? "/system/resume" : "/system/pause"} class="inline pause-switch">
      <CsrfField session={session} />
      <input type="hidden" name="next" value={session.path} />
      {paused ? (
        <button type="submit" id={id} class="small">
          Resume runs
        </button>
      ) : (
        <button
          type="submit"
          id={id}
          class="secondary small"
          data-confirm="Pause runs? Running runs finish; new runs wait in the queue until you resume."
        >
          Pause runs
        </button>
      )}
    </form>
  );
}
