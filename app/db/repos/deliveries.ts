// Queries for hook deliveries.
import { and, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { deliveries } from "../schema/index.ts";

export type DeliveryClaim = { claimed: true; id: number } | { claimed: false; runId: number | null };

/** Records a delivery for a pipeline, or reports that it was recorded before (the unique index decides). */
export async function claimDelivery(
  db: Db,
  delivery: { extension: string; deliveryId: string; namespace: string; pipelineId: string },
  now: Date,
): Promise<DeliveryClaim> {
  const inserted = await db
    .insert(deliveries)
    .values({ ...delivery, receivedAt: now })
    .onConflictDoNothing()
    .returning({ id: deliveries.id });
  if (inserted[0]) return { claimed: true, id: inserted[0].id };
  const existing = await db.query.deliveries.findFirst({
    where: and(
      eq(deliveries.extension, delivery.extension),
      eq(deliveries.deliveryId, delivery.deliveryId),
      eq(deliveries.namespace, delivery.namespace),
      eq(deliveries.pipelineId, delivery.pipelineId),
    ),
  });
  return { claimed: false, runId: existing?.runId ?? null };
}

export async function setDeliveryRun(db: Db, id: number, runId: number): Promise<void> {
  await db.update(deliveries).set({ runId }).where(eq(deliveries.id, id));
}

export async function releaseDelivery(db: Db, id: number): Promise<void> {
  await db.delete(deliveries).where(eq(deliveries.id, id));
}
