import { type Db } from '../db/prisma.js';
import { Decimal } from '../domain/money.js';

/**
 * The analytics read model (`order_stats_hourly`): orders and revenue per status and hour, kept by
 * the analytics subscriber (events/subscribers/analytics.ts) and read here by the admin route.
 */

export interface HourlyOrderStats {
  hour: Date;
  status: string;
  currency: string;
  orders: number;
  revenue: Decimal;
}

/** The hours in [from, to), oldest first, and their totals per status and currency. */
export async function orderStats(
  db: Db,
  range: { from: Date; to: Date },
): Promise<{ hours: HourlyOrderStats[]; totals: Omit<HourlyOrderStats, 'hour'>[] }> {
  const rows = await db.orderStatsHourly.findMany({
    where: { hour: { gte: range.from, lt: range.to } },
    orderBy: [{ hour: 'asc' }, { status: 'asc' }, { currency: 'asc' }],
  });
  const totals = new Map<string, Omit<HourlyOrderStats, 'hour'>>();
  for (const row of rows) {
    const key = `${row.status}/${row.currency}`;
    const total = totals.get(key) ?? { status: row.status, currency: row.currency, orders: 0, revenue: new Decimal(0) };
    total.orders += row.orders;
    total.revenue = total.revenue.add(row.revenue);
    totals.set(key, total);
  }
  return { hours: rows, totals: [...totals.values()] };
}
