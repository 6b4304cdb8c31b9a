// Where a queued run stands and why it has not started ("position 2 · waiting for run 12 of
// group deploy-main"), as the run page, the pipeline's history and the dashboard show it.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { QueuePlace } from "../../../domain/admission.ts";

/** One line under a queued run's state badge in a table. */
export function QueuePlaceNote({ place }: { place: QueuePlace | undefined }) {
  if (!place) return null;
  return (
    <span class="queue-place">
      {`position ${place.position}`}
      <span aria-hidden="true"> · </span>
      <span class="sr-only">: </span>
      {place.waitingFor}
    </span>
  );
}
