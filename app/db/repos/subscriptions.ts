// Queries for subscriptions.
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { subscriptions } from "../schema/index.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";

export type SubscriptionRow = typeof subscriptions.$inferSelect;

export async function listSubscriptions(db: Db, filter: { extension?: string; pipeline?: PipelineKey } = {}): Promise<SubscriptionRow[]> {
  return db
    .select()
    .from(subscriptions)
    .where(
      and(
        filter.extension ? eq(subscriptions.extension, filter.extension) : undefined,
        filter.pipeline ? and(eq(subscriptions.namespace, filter.pipeline.namespace), eq(subscriptions.pipelineId, filter.pipeline.id)) : undefined,
      ),
    )
    .orderBy(asc(subscriptions.id));
}

export async function getSubscription(db: Db, id: number): Promise<SubscriptionRow | undefined> {
  return db.query.subscriptions.findFirst({ where: eq(subscriptions.id, id) });
}

/**
 * Makes the file-made subscriptions of a pipeline exactly `wanted`, keeping rows (and their
 * ids) that did not change. Returns whether anything changed.
 */
export async function replaceFileSubscriptions(
  db: Db,
  key: PipelineKey,
  wanted: { extension: string; params: Record<string, unknown> }[],
  now: Date,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const current = await tx
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.namespace, key.namespace), eq(subscriptions.pipelineId, key.id), eq(subscriptions.source, "file")));
    const signature = (row: { extension: string; params: unknown }) => `${row.extension}:${JSON.stringify(row.params)}`;
    const keep = new Set<number>();
    const remaining = [...current];
    const toAdd: typeof wanted = [];
    for (const item of wanted) {
      const index = remaining.findIndex((row) => signature(row) === signature(item));
      if (index === -1) toAdd.push(item);
      else keep.add(remaining.splice(index, 1)[0]!.id);
    }
    for (const row of remaining) await tx.delete(subscriptions).where(eq(subscriptions.id, row.id));
    for (const item of toAdd) {
      await tx.insert(subscriptions).values({ namespace: key.namespace, pipelineId: key.id, extension: item.extension, params: item.params, source: "file", createdAt: now });
    }
    return remaining.length > 0 || toAdd.length > 0;
  });
}

export async function insertSubscription(
  db: Db,
  row: { namespace: string; pipelineId: string; extension: string; params: Record<string, unknown>; source: "file" | "api"; createdAt: Date },
): Promise<SubscriptionRow> {
  const [inserted] = await db.insert(subscriptions).values(row).returning();
  return inserted!;
}

export async function deleteSubscription(db: Db, id: number): Promise<boolean> {
  return (await db.delete(subscriptions).where(eq(subscriptions.id, id)).returning({ id: subscriptions.id })).length > 0;
}
