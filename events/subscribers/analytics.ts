import { type Sql } from '../../db/sql.js';
import { Decimal } from '../../domain/money.js';
import { type EventHandler, type Subscriber } from '../consumer.js';

/**
 * The analytics service (CONTRACT §4): how many orders entered each status in each hour (UTC), and
 * the sum of their totals per currency. The inbox makes each event count once.
 */

const HOUR_MS = 60 * 60 * 1000;

/** The status an order event puts the order in, as the orders table names it. */
const statusOf = {
  'order.created': 'pending',
  'order.confirmed': 'confirmed',
  'order.failed': 'failed',
  'order.cancelled': 'cancelled',
} as const;

/** ISO 4217's code for "no currency": an order whose creation analytics never saw. */
const NO_CURRENCY = 'XXX';

export function hourOf(timestamp: string): Date {
  return new Date(Math.floor(new Date(timestamp).getTime() / HOUR_MS) * HOUR_MS);
}

async function count(
  tx: Sql,
  entry: { timestamp: string; status: string; currency: string; total: Decimal | number },
): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO order_stats_hourly (hour, status, currency, orders, revenue)
    VALUES (${hourOf(entry.timestamp)}, ${entry.status}, ${entry.currency}, 1, ${new Decimal(entry.total).toFixed(2)}::numeric)
    ON CONFLICT (hour, status, currency) DO UPDATE
    SET orders = order_stats_hourly.orders + 1, revenue = order_stats_hourly.revenue + EXCLUDED.revenue`;
}

export function createAnalyticsSubscriber(): Subscriber {
  const created: EventHandler<'order.created'> = async (event, tx) => {
    const { order_id: orderId, total, currency } = event.data;
    const status = statusOf[event.event_type];
    await tx.$executeRaw`
      INSERT INTO analytics_orders (order_id, status, total, currency, updated_at)
      VALUES (${orderId}::uuid, ${status}, ${new Decimal(total).toFixed(2)}::numeric, ${currency}, ${new Date(event.timestamp)})
      ON CONFLICT (order_id) DO NOTHING`;
    await count(tx, { timestamp: event.timestamp, status, currency, total });
  };

  const confirmed: EventHandler<'order.confirmed'> = async (event, tx) => {
    const { order_id: orderId, total, currency } = event.data;
    const status = statusOf[event.event_type];
    await tx.$executeRaw`
      INSERT INTO analytics_orders (order_id, status, total, currency, updated_at)
      VALUES (${orderId}::uuid, ${status}, ${new Decimal(total).toFixed(2)}::numeric, ${currency}, ${new Date(event.timestamp)})
      ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`;
    await count(tx, { timestamp: event.timestamp, status, currency, total });
  };

  // These do not carry the order's total: it is the one order.created brought, which the relay
  // publishes before them (same key, same partition, in order).
  const ended: EventHandler<'order.failed' | 'order.cancelled'> = async (event, tx) => {
    const status = statusOf[event.event_type];
    const [known] = await tx.$queryRaw<{ currency: string; total: string }[]>`
      UPDATE analytics_orders SET status = ${status}, updated_at = ${new Date(event.timestamp)}
      WHERE order_id = ${event.data.order_id}::uuid
      RETURNING currency, total::text AS total`;
    await count(tx, {
      timestamp: event.timestamp,
      status,
      currency: known?.currency ?? NO_CURRENCY,
      total: known ? new Decimal(known.total) : 0,
    });
  };

  return {
    group: 'analytics-service-group',
    handlers: { 'order.created': created, 'order.confirmed': confirmed, 'order.failed': ended, 'order.cancelled': ended },
  };
}
