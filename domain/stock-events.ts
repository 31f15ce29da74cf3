import type { Sql } from '../db/sql.js';
import type { EventContext } from './events/envelope.js';
import { recordEvent } from './outbox.js';

/**
 * Announces the stock a change left, as `product.stock_changed` (one per product and warehouse it
 * touched, keyed by the product): the full counts after the change, summed over the product's
 * variants in that warehouse, so a reader can take them as they are. Runs in the transaction that
 * changed the stock; `occurrence` names the change (the same change records nothing new).
 */
export async function recordStockChanges(
  tx: Sql,
  change: { productWarehouses: { productId: string; warehouseId: string }[]; context: EventContext; occurredAt: Date; occurrence: string },
): Promise<void> {
  const productIds = change.productWarehouses.map((p) => p.productId);
  const warehouseIds = change.productWarehouses.map((p) => p.warehouseId);
  const counts = await tx.$queryRaw<{ productId: string; warehouseId: string; onHand: number; reserved: number }[]>`
    SELECT v.product_id::text AS "productId", s.warehouse_id::text AS "warehouseId",
           sum(s.on_hand)::int AS "onHand", sum(s.reserved)::int AS reserved
    FROM stock s JOIN product_variants v ON v.id = s.variant_id
    WHERE (v.product_id, s.warehouse_id) IN (SELECT * FROM unnest(${productIds}::uuid[], ${warehouseIds}::uuid[]))
    GROUP BY v.product_id, s.warehouse_id
    ORDER BY v.product_id, s.warehouse_id`;
  for (const count of counts) {
    await recordEvent(tx, {
      eventType: 'product.stock_changed',
      aggregate: { type: 'product', id: count.productId },
      occurrence: `${change.occurrence}:${count.warehouseId}`,
      context: change.context,
      occurredAt: change.occurredAt,
      data: {
        product_id: count.productId,
        warehouse_id: count.warehouseId,
        on_hand: count.onHand,
        reserved: count.reserved,
        available: Math.max(count.onHand - count.reserved, 0),
      },
    });
  }
}
