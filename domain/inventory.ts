import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { inSqlTransaction, sqlOf, type Db } from '../db/prisma.js';
import type { Sql } from '../db/sql.js';
import type { EventContext } from './events/envelope.js';
import type { EventData } from './events/schemas.js';
import type { ReservationStatus } from '../generated/prisma/client.js';
import type { Clock } from './clock.js';
import { IllegalTransitionError, NotFoundError, OutOfStockError, ValidationError, type StockShortage } from './errors.js';
import { orderEventContext, recordEvent } from './outbox.js';
import { recordStockChanges } from './stock-events.js';

export interface InventoryDeps {
  db: Db | Sql;
  clock: Clock;
}

/** CONTRACT §3: a reservation holds stock for 15 minutes after it is made. */
export const RESERVATION_TTL_MS = 15 * 60 * 1000;

const reserveSchema = z.strictObject({
  orderId: z.uuid(),
  lines: z.array(z.strictObject({ variantId: z.uuid(), quantity: z.number().int().positive() })).min(1),
  ttlMs: z.number().int().positive().default(RESERVATION_TTL_MS),
});
export type ReserveInventoryInput = z.input<typeof reserveSchema>;

export interface ReservedLine {
  productId: string;
  variantId: string;
  warehouseId: string;
  quantity: number;
}

export interface ReservationView {
  id: string;
  orderId: string;
  status: ReservationStatus;
  expiresAt: Date;
  lines: ReservedLine[];
}

interface LockedStock {
  id: string;
  variant_id: string;
  product_id: string;
  warehouse_id: string;
  on_hand: number;
  reserved: number;
}

/** A reservation with the stock row of each line: what closing it needs. */
interface StoredReservation extends ReservationView {
  lines: (ReservedLine & { stockId: string })[];
}

function toView({ lines, ...reservation }: StoredReservation): ReservationView {
  return {
    ...reservation,
    lines: lines.map((l) => ({ productId: l.productId, variantId: l.variantId, warehouseId: l.warehouseId, quantity: l.quantity })),
  };
}

/** An order's reservation with its lines; `lock` holds its row until the transaction ends. */
async function findReservation(db: Sql, orderId: string, lock: boolean): Promise<StoredReservation | null> {
  type Row = Omit<StoredReservation, 'lines'>;
  const [reservation] = lock
    ? await db.$queryRaw<Row[]>`
        SELECT id::text AS id, order_id::text AS "orderId", status::text AS status, expires_at AS "expiresAt"
        FROM reservations WHERE order_id = ${orderId}::uuid FOR UPDATE`
    : await db.$queryRaw<Row[]>`
        SELECT id::text AS id, order_id::text AS "orderId", status::text AS status, expires_at AS "expiresAt"
        FROM reservations WHERE order_id = ${orderId}::uuid`;
  if (!reservation) return null;
  const lines = await db.$queryRaw<StoredReservation['lines']>`
    SELECT v.product_id::text AS "productId", s.variant_id::text AS "variantId", s.warehouse_id::text AS "warehouseId",
           l.quantity, l.stock_id::text AS "stockId"
    FROM reservation_lines l JOIN stock s ON s.id = l.stock_id JOIN product_variants v ON v.id = s.variant_id
    WHERE l.reservation_id = ${reservation.id}::uuid
    ORDER BY l.id`;
  return { ...reservation, lines };
}

function eventLines(lines: ReservedLine[]): EventData<'inventory.reserved'>['reservations'] {
  return lines.map((l) => ({ product_id: l.productId, quantity: l.quantity, warehouse_id: l.warehouseId }));
}

/** Locks the stock rows of these variants in every warehouse, always in id order so that
 * concurrent reservations queue instead of deadlocking. */
async function lockStock(tx: Sql, variantIds: string[]): Promise<LockedStock[]> {
  return tx.$queryRaw<LockedStock[]>`
    SELECT s.id, s.variant_id, v.product_id, s.warehouse_id, s.on_hand, s.reserved
    FROM stock s JOIN product_variants v ON v.id = s.variant_id
    WHERE s.variant_id = ANY(${variantIds}::uuid[])
    ORDER BY s.id
    FOR UPDATE OF s`;
}

/**
 * Splits each requested quantity over the warehouses that have it, largest availability first: one
 * warehouse when one can serve the line, as few as possible otherwise.
 */
function allocate(
  demand: Map<string, number>,
  stock: LockedStock[],
  productOf: Map<string, string>,
): { allocations: { stock: LockedStock; quantity: number }[]; shortages: StockShortage[] } {
  const allocations: { stock: LockedStock; quantity: number }[] = [];
  const shortages: StockShortage[] = [];
  for (const [variantId, requested] of demand) {
    const rows = stock
      .filter((s) => s.variant_id === variantId && s.on_hand - s.reserved > 0)
      .sort((a, b) => b.on_hand - b.reserved - (a.on_hand - a.reserved) || a.warehouse_id.localeCompare(b.warehouse_id));
    const available = rows.reduce((sum, s) => sum + s.on_hand - s.reserved, 0);
    if (available < requested) {
      shortages.push({ productId: productOf.get(variantId)!, variantId, requested, available });
      continue;
    }
    let remaining = requested;
    for (const row of rows) {
      if (remaining === 0) break;
      const quantity = Math.min(remaining, row.on_hand - row.reserved);
      allocations.push({ stock: row, quantity });
      remaining -= quantity;
    }
  }
  return { allocations, shortages };
}

/**
 * Reserves every line of an order or none, across warehouses, under row locks: stock can never go
 * below zero nor be reserved twice, however many orders race for it. Idempotent per order: a second
 * call returns the reservation the first made. Writes `inventory.reserved` with the reservation, or
 * on a shortage `inventory.reservation.failed` (and nothing else) and throws OutOfStockError.
 */
export async function reserveInventory(
  deps: InventoryDeps,
  input: ReserveInventoryInput,
  /** What the events name, when the caller has read the order already. */
  knownContext?: EventContext,
): Promise<ReservationView> {
  const parsed = reserveSchema.safeParse(input);
  if (!parsed.success) throw new ValidationError(z.prettifyError(parsed.error), { issues: parsed.error.issues });
  const { orderId, lines, ttlMs } = parsed.data;

  const outcome = await inSqlTransaction(deps.db, async (tx) => {
    // Serialises calls for the same order, so a retry racing the original cannot reserve twice.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`reservation:${orderId}`}, 0))`;
    const existing = await findReservation(tx, orderId, false);
    if (existing) return { kind: 'reserved' as const, reservation: toView(existing) };

    const context = knownContext ?? (await orderEventContext(tx, orderId));
    const now = deps.clock();
    const demand = new Map<string, number>();
    for (const line of lines) demand.set(line.variantId, (demand.get(line.variantId) ?? 0) + line.quantity);
    const variants = await tx.$queryRaw<{ id: string; productId: string }[]>`
      SELECT id::text AS id, product_id::text AS "productId" FROM product_variants WHERE id = ANY(${[...demand.keys()]}::uuid[])`;
    const productOf = new Map(variants.map((v) => [v.id, v.productId]));
    const unknown = [...demand.keys()].find((id) => !productOf.has(id));
    if (unknown) throw new NotFoundError('variant', unknown);
    const stock = await lockStock(tx, [...demand.keys()]);
    const { allocations, shortages } = allocate(demand, stock, productOf);

    if (shortages.length > 0) {
      await recordEvent(tx, {
        eventType: 'inventory.reservation.failed',
        aggregate: { type: 'order', id: orderId },
        context,
        occurredAt: now,
        data: {
          order_id: orderId,
          reason: 'out_of_stock',
          items: shortages.map((s) => ({ product_id: s.productId, requested: s.requested, available: s.available })),
        },
      });
      return { kind: 'out_of_stock' as const, shortages };
    }

    // Line ids made here, and the lines kept in their order: the order in which a reservation is read back.
    const newLines = allocations
      .map(({ stock: row, quantity }) => ({ id: randomUUID(), stockId: row.id, quantity, row }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const reservation: ReservationView = {
      id: randomUUID(),
      orderId,
      status: 'active',
      expiresAt: new Date(now.getTime() + ttlMs),
      lines: newLines.map(({ row, quantity }) => ({
        productId: row.product_id,
        variantId: row.variant_id,
        warehouseId: row.warehouse_id,
        quantity,
      })),
    };
    // One statement: the units held on the stock rows (locked above), the reservation and its lines.
    await tx.$executeRaw`
      WITH held AS (
        UPDATE stock s SET reserved = s.reserved + line.quantity, updated_at = ${now}
        FROM unnest(${newLines.map((l) => l.stockId)}::uuid[], ${newLines.map((l) => l.quantity)}::int[]) AS line(stock_id, quantity)
        WHERE s.id = line.stock_id),
      reservation AS (
        INSERT INTO reservations (id, order_id, status, expires_at, created_at, updated_at)
        VALUES (${reservation.id}::uuid, ${orderId}::uuid, 'active', ${reservation.expiresAt}, ${now}, ${now}))
      INSERT INTO reservation_lines (id, reservation_id, stock_id, quantity)
      SELECT line.id, ${reservation.id}::uuid, line.stock_id, line.quantity
      FROM unnest(${newLines.map((l) => l.id)}::uuid[], ${newLines.map((l) => l.stockId)}::uuid[], ${newLines.map((l) => l.quantity)}::int[])
        AS line(id, stock_id, quantity)`;
    await recordEvent(tx, {
      eventType: 'inventory.reserved',
      aggregate: { type: 'order', id: orderId },
      context,
      occurredAt: now,
      data: {
        reservation_id: reservation.id,
        order_id: orderId,
        reservations: eventLines(reservation.lines),
        expires_at: reservation.expiresAt.toISOString(),
      },
    });
    return { kind: 'reserved' as const, reservation };
  });

  if (outcome.kind === 'out_of_stock') throw new OutOfStockError(outcome.shortages);
  return outcome.reservation;
}

/**
 * Closes an active reservation: its units go back to stock (released, expired) or leave the
 * warehouse (committed: on_hand drops too). Stock rows are updated in id order, the lock order.
 */
async function closeReservation(
  tx: Sql,
  reservation: StoredReservation,
  status: 'released' | 'expired' | 'committed',
  now: Date,
): Promise<ReservationView> {
  for (const line of [...reservation.lines].sort((a, b) => a.stockId.localeCompare(b.stockId))) {
    const shipped = status === 'committed' ? line.quantity : 0;
    await tx.$executeRaw`
      UPDATE stock SET on_hand = on_hand - ${shipped}, reserved = reserved - ${line.quantity}, updated_at = ${now}
      WHERE id = ${line.stockId}::uuid`;
  }
  await tx.$executeRaw`UPDATE reservations SET status = ${status}::reservation_status, updated_at = ${now} WHERE id = ${reservation.id}::uuid`;
  return toView({ ...reservation, status });
}

/** Gives the reserved units back (released by the saga, or expired), and announces it. */
async function returnToStock(
  tx: Sql,
  reservation: StoredReservation,
  status: 'released' | 'expired',
  reason: string,
  now: Date,
): Promise<ReservationView> {
  const view = await closeReservation(tx, reservation, status, now);
  await recordEvent(tx, {
    eventType: 'inventory.released',
    aggregate: { type: 'order', id: view.orderId },
    context: await orderEventContext(tx, view.orderId),
    occurredAt: now,
    data: { reservation_id: view.id, order_id: view.orderId, reason, reservations: eventLines(view.lines) },
  });
  return view;
}

/**
 * Releases an order's reservation (the saga's compensation). Idempotent: an order with no
 * reservation, or one already released or expired, is left as it is. A committed reservation
 * cannot be released: its units have left the warehouse.
 */
export async function releaseReservation(
  deps: InventoryDeps,
  input: { orderId: string; reason: string },
): Promise<ReservationView | null> {
  return inSqlTransaction(deps.db, async (tx) => {
    const reservation = await findReservation(tx, input.orderId, true);
    if (!reservation) return null;
    if (reservation.status === 'committed') {
      throw new IllegalTransitionError('reservation', reservation.id, reservation.status, 'released');
    }
    if (reservation.status !== 'active') return toView(reservation);
    return returnToStock(tx, reservation, 'released', input.reason, deps.clock());
  });
}

/**
 * Finalises an order's reservation when the order is confirmed: the units leave stock
 * (on_hand and reserved both drop), announced as `inventory.committed` and, per product and
 * warehouse, `product.stock_changed`. Idempotent; a released or expired reservation cannot be committed.
 */
export async function commitReservation(
  deps: InventoryDeps,
  input: { orderId: string },
  /** What the events name, when the caller has read the order already. */
  knownContext?: EventContext,
): Promise<ReservationView> {
  return inSqlTransaction(deps.db, async (tx) => {
    const reservation = await findReservation(tx, input.orderId, true);
    if (!reservation) throw new IllegalTransitionError('reservation', `of order ${input.orderId}`, 'none', 'committed');
    if (reservation.status === 'committed') return toView(reservation);
    if (reservation.status !== 'active') {
      throw new IllegalTransitionError('reservation', reservation.id, reservation.status, 'committed');
    }
    const now = deps.clock();
    const view = await closeReservation(tx, reservation, 'committed', now);
    const context = knownContext ?? (await orderEventContext(tx, view.orderId));
    await recordEvent(tx, {
      eventType: 'inventory.committed',
      aggregate: { type: 'order', id: view.orderId },
      context,
      occurredAt: now,
      data: { reservation_id: view.id, order_id: view.orderId, reservations: eventLines(view.lines) },
    });
    await recordStockChanges(tx, { productWarehouses: view.lines, context, occurredAt: now, occurrence: `commit:${view.id}` });
    return view;
  });
}

/**
 * Returns the stock of every active reservation whose time is up (at the injected clock's now),
 * each in its own transaction, and announces each as `inventory.released` with reason `expired`.
 * A reservation that `stillHeld` says someone still looks after (its order's running saga) is left
 * to them. Returns the ids of the orders whose reservations expired. Safe to run from several processes.
 */
export async function expireReservations(
  deps: InventoryDeps,
  options: { batchSize?: number; stillHeld?: (orderId: string) => Promise<boolean> } = {},
): Promise<string[]> {
  const now = deps.clock();
  const due = await sqlOf(deps.db).$queryRaw<{ orderId: string }[]>`
    SELECT order_id::text AS "orderId" FROM reservations
    WHERE status = 'active' AND expires_at <= ${now}
    ORDER BY expires_at
    LIMIT ${options.batchSize ?? 100}`;
  const expired: string[] = [];
  for (const { orderId } of due) {
    if (await options.stillHeld?.(orderId)) continue;
    const done = await inSqlTransaction(deps.db, async (tx) => {
      const reservation = await findReservation(tx, orderId, true);
      // Another process may have released, committed or expired it since it was listed.
      if (!reservation || reservation.status !== 'active' || reservation.expiresAt > now) return false;
      await returnToStock(tx, reservation, 'expired', 'expired', now);
      return true;
    });
    if (done) expired.push(orderId);
  }
  return expired;
}

/** An order's reservation, or null when it has none. */
export async function getReservation(db: Db | Sql, orderId: string): Promise<ReservationView | null> {
  const reservation = await findReservation(sqlOf(db), orderId, false);
  return reservation ? toView(reservation) : null;
}
