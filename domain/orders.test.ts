import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../test/support/env.js';
import { createPrisma } from '../db/prisma.js';
import { eventSchemas } from './events/schemas.js';
import type { OrderStatus } from '../generated/prisma/client.js';
import { systemClock } from './clock.js';
import { IllegalTransitionError, NotFoundError, ValidationError } from './errors.js';
import { canTransition, createOrder, getOrder, transitionOrder } from './orders.js';
import { address, cardPayment, createStockedProduct, fixedClock, outboxEvents, placeOrder } from '../test/support/domain.js';

const prisma = createPrisma(testConfig().postgres.url);
const deps = { db: prisma, clock: systemClock };
afterAll(() => prisma.$disconnect());

const statuses: OrderStatus[] = ['pending', 'inventory_reserved', 'awaiting_payment', 'confirmed', 'failed', 'cancelled'];
const finalEvents: Partial<Record<OrderStatus, string>> = {
  confirmed: 'order.confirmed',
  failed: 'order.failed',
  cancelled: 'order.cancelled',
};
/** The shortest legal way from pending to each status. */
const pathTo: Record<OrderStatus, OrderStatus[]> = {
  pending: [],
  inventory_reserved: ['inventory_reserved'],
  awaiting_payment: ['inventory_reserved', 'awaiting_payment'],
  confirmed: ['inventory_reserved', 'confirmed'],
  failed: ['failed'],
  cancelled: ['cancelled'],
};

async function orderIn(status: OrderStatus) {
  const product = await createStockedProduct(prisma, { units: [1] });
  const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
  for (const step of pathTo[status]) await transitionOrder(deps, { orderId: order.id, to: step, reason: 'test' });
  return order.id;
}

async function footprint(orderId: string) {
  const order = await getOrder(prisma, orderId);
  return { status: order.status, timeline: order.timeline.length, events: (await outboxEvents(prisma, orderId)).length };
}

describe('createOrder', () => {
  it('prices items from the catalog, totals in decimal, numbers the order and announces order.created', async () => {
    const shirt = await createStockedProduct(prisma, { units: [5], price: '29.99' });
    const pin = await createStockedProduct(prisma, { units: [5], price: '0.10' });
    const clock = fixedClock('2031-06-01T09:00:00Z');
    const correlationId = randomUUID();

    const order = await createOrder(
      { db: prisma, clock },
      {
        userId: 'user-1',
        items: [
          { productId: shirt.productId, quantity: 2 },
          { productId: pin.productId, variantId: pin.variantId, quantity: 3 },
        ],
        shippingAddress: address,
        payment: cardPayment,
        correlationId,
      },
    );

    expect(order.total.toFixed(2)).toBe('60.28');
    expect(order.orderNumber).toMatch(/^ORD-2031-\d{5}$/);
    expect(order.status).toBe('pending');
    expect(order.items.map((i) => i.unitPrice.toFixed(2))).toEqual(['29.99', '0.10']);
    expect(order.timeline.map((t) => t.status)).toEqual(['pending']);
    const [created] = await outboxEvents(prisma, order.id);
    expect(created).toMatchObject({
      event_type: 'order.created',
      source_service: 'order-service',
      correlation_id: correlationId,
      timestamp: '2031-06-01T09:00:00.000Z',
      metadata: { user_id: 'user-1', trace_id: order.traceId },
      data: {
        order_id: order.id,
        order_number: order.orderNumber,
        user_id: 'user-1',
        total: 60.28,
        currency: 'USD',
        items: [
          { product_id: shirt.productId, quantity: 2, price: 29.99 },
          { product_id: pin.productId, quantity: 3, price: 0.1 },
        ],
        shipping_address: address,
      },
    });
  });

  it('gives consecutive orders consecutive numbers from the sequence', async () => {
    const product = await createStockedProduct(prisma, { units: [1] });
    const first = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const second = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const number = (n: string) => Number(n.split('-')[2]);
    expect(number(second.orderNumber)).toBeGreaterThan(number(first.orderNumber));
  });

  it('returns the existing order when created again with the same id', async () => {
    const product = await createStockedProduct(prisma, { units: [1] });
    const input = {
      id: randomUUID(),
      userId: 'user-2',
      items: [{ productId: product.productId, quantity: 1 }],
      shippingAddress: address,
      payment: cardPayment,
      correlationId: randomUUID(),
    };
    const first = await createOrder(deps, input);
    const second = await createOrder(deps, input);
    expect(second.orderNumber).toBe(first.orderNumber);
    expect(await outboxEvents(prisma, first.id)).toHaveLength(1);
  });

  it('refuses unknown products and bad input, writing nothing', async () => {
    const userId = `user-${randomUUID()}`;
    const base = { userId, shippingAddress: address, payment: cardPayment, correlationId: randomUUID() };
    await expect(createOrder(deps, { ...base, items: [{ productId: randomUUID(), quantity: 1 }] })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(createOrder(deps, { ...base, items: [] })).rejects.toBeInstanceOf(ValidationError);
    await expect(createOrder(deps, { ...base, items: [{ productId: randomUUID(), quantity: 0 }] })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await prisma.order.count({ where: { userId } })).toBe(0);
  });
});

describe('transitionOrder', () => {
  const legal = statuses.flatMap((from) => statuses.filter((to) => canTransition(from, to)).map((to) => [from, to] as const));
  const illegal = statuses.flatMap((from) =>
    statuses.filter((to) => to !== from && !canTransition(from, to)).map((to) => [from, to] as const),
  );

  it.each(legal)('%s → %s writes one timeline entry, and its one valid event when final', async (from, to) => {
    const orderId = await orderIn(from);
    const before = await footprint(orderId);

    await transitionOrder(deps, { orderId, to, reason: 'out_of_stock' });
    await transitionOrder(deps, { orderId, to, reason: 'out_of_stock' });

    const after = await footprint(orderId);
    expect(after.status).toBe(to);
    expect(after.timeline).toBe(before.timeline + 1);
    const added = (await outboxEvents(prisma, orderId)).slice(before.events);
    const expected = finalEvents[to];
    expect(added.map((e) => e.event_type)).toEqual(expected ? [expected] : []);
    for (const event of added) expect(eventSchemas[event.event_type].safeParse(event).success).toBe(true);
  });

  it.each(illegal)('%s → %s throws IllegalTransitionError and writes nothing', async (from, to) => {
    const orderId = await orderIn(from);
    const before = await footprint(orderId);

    const attempt = transitionOrder(deps, { orderId, to, reason: 'test' });

    await expect(attempt).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(attempt).rejects.toMatchObject({ type: 'IllegalTransition', status: 409, retryable: false });
    expect(await footprint(orderId)).toEqual(before);
  });

  it('records the failure reason on the order and in order.failed', async () => {
    const orderId = await orderIn('inventory_reserved');

    const order = await transitionOrder(deps, { orderId, to: 'failed', reason: 'payment_declined' });

    expect(order.failureReason).toBe('payment_declined');
    expect(order.timeline.at(-1)).toMatchObject({ fromStatus: 'inventory_reserved', status: 'failed', reason: 'payment_declined' });
    const failed = (await outboxEvents(prisma, orderId)).find((e) => e.event_type === 'order.failed');
    expect(failed?.data).toMatchObject({ order_id: orderId, reason: 'payment_declined' });
  });

  it('requires a reason to fail or cancel an order', async () => {
    const orderId = await orderIn('pending');
    await expect(transitionOrder(deps, { orderId, to: 'failed' })).rejects.toBeInstanceOf(ValidationError);
    expect((await footprint(orderId)).status).toBe('pending');
  });
});
