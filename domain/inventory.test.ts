import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../test/support/env.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from './clock.js';
import { IllegalTransitionError, OutOfStockError } from './errors.js';
import {
  commitReservation,
  expireReservations,
  getReservation,
  releaseReservation,
  reserveInventory,
  RESERVATION_TTL_MS,
} from './inventory.js';
import { createStockedProduct, fixedClock, outboxEvents, placeOrder } from '../test/support/domain.js';

const prisma = createPrisma(testConfig().postgres.url, { poolSize: 20 });
const deps = { db: prisma, clock: systemClock };
afterAll(() => prisma.$disconnect());

async function stockOf(ids: string[]) {
  const rows = await prisma.stock.findMany({ where: { id: { in: ids } } });
  return ids.map((id) => rows.find((r) => r.id === id)!);
}

describe('reserveInventory', () => {
  it('lets 50 concurrent one-unit orders against stock 10 reserve exactly 10, never below zero', async () => {
    const product = await createStockedProduct(prisma, { units: [10] });
    const orders = [];
    for (let i = 0; i < 50; i++) orders.push(await placeOrder(prisma, systemClock, [{ productId: product.productId }]));

    const results = await Promise.allSettled(
      orders.map((o) => reserveInventory(deps, { orderId: o.id, lines: [{ variantId: product.variantId, quantity: 1 }] })),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const refusals = results.filter((r) => r.status === 'rejected');
    expect(refusals).toHaveLength(40);
    for (const r of refusals) expect(r.reason).toBeInstanceOf(OutOfStockError);
    const [stock] = await stockOf(product.stockIds);
    expect(stock).toMatchObject({ onHand: 10, reserved: 10 });
    const events = (await Promise.all(orders.map((o) => outboxEvents(prisma, o.id)))).flat();
    expect(events.filter((e) => e.event_type === 'inventory.reserved')).toHaveLength(10);
    expect(events.filter((e) => e.event_type === 'inventory.reservation.failed')).toHaveLength(40);
  });

  it('reserves multi-line orders spanning warehouses all-or-nothing under concurrency', async () => {
    const a = await createStockedProduct(prisma, { units: [3, 3] });
    const b = await createStockedProduct(prisma, { units: [2, 2] });
    const orders = [];
    for (let i = 0; i < 30; i++) {
      orders.push(await placeOrder(prisma, systemClock, [{ productId: a.productId, quantity: 2 }, { productId: b.productId }]));
    }

    const results = await Promise.allSettled(
      orders.map((o) =>
        reserveInventory(deps, {
          orderId: o.id,
          lines: [
            { variantId: a.variantId, quantity: 2 },
            { variantId: b.variantId, quantity: 1 },
          ],
        }),
      ),
    );

    const reserved = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(reserved).toHaveLength(3);
    for (const reservation of reserved) {
      const units = (variantId: string) =>
        reservation.lines.filter((l) => l.variantId === variantId).reduce((sum, l) => sum + l.quantity, 0);
      expect(units(a.variantId)).toBe(2);
      expect(units(b.variantId)).toBe(1);
    }
    const refused = orders.filter((_, i) => results[i]!.status === 'rejected');
    for (const order of refused) expect(await getReservation(prisma, order.id)).toBeNull();
    const stock = await stockOf([...a.stockIds, ...b.stockIds]);
    expect(stock.slice(0, 2).reduce((sum, s) => sum + s.reserved, 0)).toBe(6);
    expect(stock.slice(2).reduce((sum, s) => sum + s.reserved, 0)).toBe(3);
    for (const s of stock) expect(s.reserved).toBeLessThanOrEqual(s.onHand);
  });

  it('splits a line over warehouses, largest availability first, when no single one has enough', async () => {
    const product = await createStockedProduct(prisma, { units: [2, 3, 1] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 5 }]);

    const reservation = await reserveInventory(deps, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 5 }] });

    const byWarehouse = Object.fromEntries(reservation.lines.map((l) => [l.warehouseId, l.quantity]));
    expect(byWarehouse).toEqual({ [product.warehouseIds[1]!]: 3, [product.warehouseIds[0]!]: 2 });
    const [event] = (await outboxEvents(prisma, order.id)).filter((e) => e.event_type === 'inventory.reserved');
    expect(event?.data).toMatchObject({ reservation_id: reservation.id, order_id: order.id });
  });

  it('returns the first reservation when an order reserves again, even concurrently, and writes one event', async () => {
    const product = await createStockedProduct(prisma, { units: [10] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);
    const reserve = () => reserveInventory(deps, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 2 }] });

    const results = await Promise.all([reserve(), reserve(), reserve(), reserve(), reserve()]);

    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect((await stockOf(product.stockIds))[0]).toMatchObject({ reserved: 2 });
    const events = await outboxEvents(prisma, order.id);
    expect(events.filter((e) => e.event_type === 'inventory.reserved')).toHaveLength(1);
  });

  it('on a shortage writes inventory.reservation.failed and reserves nothing', async () => {
    const product = await createStockedProduct(prisma, { units: [1, 1] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 3 }]);

    const attempt = reserveInventory(deps, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 3 }] });

    await expect(attempt).rejects.toMatchObject({ type: 'OutOfStock', retryable: false });
    expect(await getReservation(prisma, order.id)).toBeNull();
    expect((await stockOf(product.stockIds)).map((s) => s.reserved)).toEqual([0, 0]);
    const failed = (await outboxEvents(prisma, order.id)).find((e) => e.event_type === 'inventory.reservation.failed');
    expect(failed?.data).toEqual({
      order_id: order.id,
      reason: 'out_of_stock',
      items: [{ product_id: product.productId, requested: 3, available: 2 }],
    });
  });
});

describe('releaseReservation', () => {
  it('gives the units back once when released twice', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 4 }]);
    await reserveInventory(deps, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 4 }] });

    await releaseReservation(deps, { orderId: order.id, reason: 'payment_declined' });
    const again = await releaseReservation(deps, { orderId: order.id, reason: 'payment_declined' });

    expect(again?.status).toBe('released');
    expect((await stockOf(product.stockIds))[0]).toMatchObject({ onHand: 5, reserved: 0 });
    const released = (await outboxEvents(prisma, order.id)).filter((e) => e.event_type === 'inventory.released');
    expect(released).toHaveLength(1);
    expect(released[0]?.data).toMatchObject({ reason: 'payment_declined' });
  });

  it('does nothing for an order that reserved nothing', async () => {
    const product = await createStockedProduct(prisma, { units: [1] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    expect(await releaseReservation(deps, { orderId: order.id, reason: 'cancelled' })).toBeNull();
    expect(await outboxEvents(prisma, order.id)).toHaveLength(1);
  });
});

describe('commitReservation', () => {
  it('takes the units out of stock once, and a committed reservation cannot be released', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);
    await reserveInventory(deps, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 2 }] });

    await commitReservation(deps, { orderId: order.id });
    const again = await commitReservation(deps, { orderId: order.id });

    expect(again.status).toBe('committed');
    expect((await stockOf(product.stockIds))[0]).toMatchObject({ onHand: 3, reserved: 0 });
    await expect(releaseReservation(deps, { orderId: order.id, reason: 'cancelled' })).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    const events = await outboxEvents(prisma, order.id);
    expect(events.filter((e) => e.event_type === 'inventory.committed')).toHaveLength(1);
    expect(events.filter((e) => e.event_type === 'inventory.released')).toHaveLength(0);
  });
});

describe('expireReservations', () => {
  it('releases a reservation 15 minutes after it was made, not before', async () => {
    const clock = fixedClock('2030-03-01T12:00:00Z');
    const timed = { db: prisma, clock };
    const product = await createStockedProduct(prisma, { units: [3] });
    const order = await placeOrder(prisma, clock, [{ productId: product.productId, quantity: 3 }]);
    const reservation = await reserveInventory(timed, { orderId: order.id, lines: [{ variantId: product.variantId, quantity: 3 }] });
    expect(reservation.expiresAt.toISOString()).toBe('2030-03-01T12:15:00.000Z');

    clock.advance(RESERVATION_TTL_MS - 1);
    expect(await expireReservations(timed)).not.toContain(order.id);
    clock.advance(1);
    expect(await expireReservations(timed)).toContain(order.id);

    expect((await getReservation(prisma, order.id))?.status).toBe('expired');
    expect((await stockOf(product.stockIds))[0]).toMatchObject({ onHand: 3, reserved: 0 });
    const released = (await outboxEvents(prisma, order.id)).filter((e) => e.event_type === 'inventory.released');
    expect(released.map((e) => e.data)).toMatchObject([{ reason: 'expired' }]);
    await expect(commitReservation(timed, { orderId: order.id })).rejects.toBeInstanceOf(IllegalTransitionError);
  });
});
