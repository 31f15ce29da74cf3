import { type Sql } from '../../db/sql.js';
import { type EventHandler, type Subscriber } from '../consumer.js';
import { type EventData } from '../../domain/events/schemas.js';

/**
 * The search service's read model (CONTRACT §4): products with their stock per warehouse, kept up
 * to date from product and inventory events and searched with PostgreSQL full-text search.
 *
 * Stock has two kinds of input: full counts (a rebuild from the catalog, `product.stock_changed`)
 * and changes (`inventory.reserved`, `.released`, `.committed`). A row remembers the time of its
 * last full count, and a change that happened before it is already in it and is not applied again.
 */

/** Where a row made by a change alone starts: before any full count. */
const NEVER = new Date(0);

type StockLine = EventData<'inventory.reserved'>['reservations'][number];

async function applyStockChange(
  tx: Sql,
  lines: StockLine[],
  change: { onHand: -1 | 0; reserved: -1 | 1 },
  at: Date,
): Promise<void> {
  for (const line of lines) {
    const onHand = change.onHand * line.quantity;
    const reserved = change.reserved * line.quantity;
    await tx.$executeRaw`
      INSERT INTO product_search_stock (product_id, warehouse_id, on_hand, reserved, as_of)
      VALUES (${line.product_id}::uuid, ${line.warehouse_id}::uuid, ${onHand}, ${reserved}, ${NEVER})
      ON CONFLICT (product_id, warehouse_id) DO UPDATE
      SET on_hand = product_search_stock.on_hand + EXCLUDED.on_hand,
          reserved = product_search_stock.reserved + EXCLUDED.reserved
      WHERE product_search_stock.as_of < ${at}`;
  }
}

export function createSearchSubscriber(): Subscriber {
  const reserved: EventHandler<'inventory.reserved'> = (event, tx) =>
    applyStockChange(tx, event.data.reservations, { onHand: 0, reserved: 1 }, new Date(event.timestamp));
  const released: EventHandler<'inventory.released'> = (event, tx) =>
    applyStockChange(tx, event.data.reservations, { onHand: 0, reserved: -1 }, new Date(event.timestamp));
  // The units leave the warehouse: on hand and reserved both drop, what is available stays.
  const committed: EventHandler<'inventory.committed'> = (event, tx) =>
    applyStockChange(tx, event.data.reservations, { onHand: -1, reserved: -1 }, new Date(event.timestamp));

  const stockChanged: EventHandler<'product.stock_changed'> = async (event, tx) => {
    const { product_id: productId, warehouse_id: warehouseId, on_hand: onHand, reserved: units } = event.data;
    const at = new Date(event.timestamp);
    await tx.$executeRaw`
      INSERT INTO product_search_stock (product_id, warehouse_id, on_hand, reserved, as_of)
      VALUES (${productId}::uuid, ${warehouseId}::uuid, ${onHand}, ${units}, ${at})
      ON CONFLICT (product_id, warehouse_id) DO UPDATE
      SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, as_of = EXCLUDED.as_of
      WHERE product_search_stock.as_of < EXCLUDED.as_of`;
  };

  // product.updated does not carry the description and brand: a product first met this way has
  // none until the next rebuild.
  const productUpdated: EventHandler<'product.updated'> = async (event, tx) => {
    const { product_id: productId, name, category, price, currency, active } = event.data;
    const at = new Date(event.timestamp);
    await tx.$executeRaw`
      INSERT INTO product_search (product_id, name, description, category, brand, price, currency, active, as_of)
      VALUES (${productId}::uuid, ${name}, '', ${category}, '', ${price}, ${currency}, ${active}, ${at})
      ON CONFLICT (product_id) DO UPDATE
      SET name = EXCLUDED.name, category = EXCLUDED.category, price = EXCLUDED.price,
          currency = EXCLUDED.currency, active = EXCLUDED.active, as_of = EXCLUDED.as_of
      WHERE product_search.as_of < EXCLUDED.as_of`;
  };

  return {
    group: 'search-service-group',
    handlers: {
      'inventory.reserved': reserved,
      'inventory.released': released,
      'inventory.committed': committed,
      'product.stock_changed': stockChanged,
      'product.updated': productUpdated,
    },
  };
}
