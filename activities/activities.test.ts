import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { transitionOrder, type OrderStatus } from '../domain/orders.js';
import { FakePaymentProvider, testTokens } from '../fake-payment-provider/provider.js';
import { createStockedProduct, outboxEvents, placeOrder, refuseConfirming, type ProductFixture } from '../test/support/domain.js';
import { testConfig } from '../test/support/env.js';
import { createActivities, type SagaContext } from './index.js';

const prisma = createPrisma(testConfig().postgres.url);
const provider = new FakePaymentProvider();
const activities = createActivities({ db: prisma, clock: systemClock, payments: provider });
afterAll(() => prisma.$disconnect());

async function reservedOrder(product: ProductFixture, quantity: number) {
  const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity }]);
  const context: SagaContext = { orderId: order.id, userId: order.userId, correlationId: order.correlationId };
  await activities.reserveInventory(context);
  return { order, context };
}

async function stockOf(product: ProductFixture) {
  const [row] = await prisma.stock.findMany({ where: { id: { in: product.stockIds } } });
  return { onHand: row!.onHand, reserved: row!.reserved };
}

describe('confirmOrder', () => {
  it('commits the stock and confirms the order in one transaction: when confirming fails, stock, reservation and events are untouched', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const { order, context } = await reservedOrder(product, 2);

    const failure = await refuseConfirming(order.id, () => activities.confirmOrder(context).then(() => undefined, (error: unknown) => error));

    expect(String(failure)).toMatch(/refuses to confirm/);
    expect(await stockOf(product)).toEqual({ onHand: 5, reserved: 2 });
    expect((await prisma.reservation.findUniqueOrThrow({ where: { orderId: order.id } })).status).toBe('active');
    expect((await prisma.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe('inventory_reserved');
    expect((await outboxEvents(prisma, order.id)).map((e) => e.event_type)).toEqual(['order.created', 'inventory.reserved']);

    // Once nothing stands in the way, the same step completes.
    await activities.confirmOrder(context);
    expect(await stockOf(product)).toEqual({ onHand: 3, reserved: 0 });
    expect((await outboxEvents(prisma, order.id)).map((e) => e.event_type)).toEqual([
      'order.created',
      'inventory.reserved',
      'inventory.committed',
      'order.confirmed',
    ]);
  });
});

/** Runs a step as Temporal would (in an activity context) and returns how it refused, if it did. */
async function refusal(step: () => Promise<unknown>): Promise<ApplicationFailure | undefined> {
  const error = await new MockActivityEnvironment().run(step).then(() => undefined, (e: unknown) => e);
  if (error === undefined || error instanceof ApplicationFailure) return error;
  throw error;
}

async function decide(orderId: string, to: Extract<OrderStatus, 'failed' | 'cancelled'>) {
  await transitionOrder({ db: prisma, clock: systemClock }, { orderId, to, reason: `${to} elsewhere` });
}

describe('a saga step meeting an order decided elsewhere', () => {
  it('reserveInventory refuses a failed order for good and reserves nothing', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);
    await decide(order.id, 'failed');

    const refused = await refusal(() => activities.reserveInventory({ orderId: order.id, userId: order.userId, correlationId: order.correlationId }));

    expect(refused).toMatchObject({ type: 'OrderStatusConflict', nonRetryable: true, message: expect.stringMatching(/failed/) });
    expect(await prisma.reservation.findUnique({ where: { orderId: order.id } })).toBeNull();
    expect(await stockOf(product)).toEqual({ onHand: 5, reserved: 0 });
  });

  it('chargePayment refuses a failed order for good and charges nothing', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const { order, context } = await reservedOrder(product, 1);
    await decide(order.id, 'failed');

    const refused = await refusal(() => activities.chargePayment({ ...context, token: testTokens.visa }));

    expect(refused).toMatchObject({ type: 'OrderStatusConflict', nonRetryable: true });
    expect(provider.chargeCount(order.id)).toBe(0);
    expect(await prisma.payment.count({ where: { orderId: order.id } })).toBe(0);
  });

  it('completePayment refuses a cancelled order for good', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const { order, context } = await reservedOrder(product, 1);
    await refusal(() => activities.chargePayment({ ...context, token: testTokens.threeDSecure }));
    await decide(order.id, 'cancelled');

    const refused = await refusal(() => activities.completePayment(context));

    expect(refused).toMatchObject({ type: 'OrderStatusConflict', nonRetryable: true });
    expect((await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } })).status).toBe('requires_action');
  });

  it('confirmOrder refuses a cancelled order for good and commits no stock', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const { order, context } = await reservedOrder(product, 2);
    await decide(order.id, 'cancelled');

    const refused = await refusal(() => activities.confirmOrder(context));

    expect(refused).toMatchObject({ type: 'OrderStatusConflict', nonRetryable: true });
    expect(await stockOf(product)).toEqual({ onHand: 5, reserved: 2 });
    expect((await outboxEvents(prisma, order.id)).map((e) => e.event_type)).not.toContain('inventory.committed');
  });

  it('a step repeated after it took effect finds its work done instead of refusing', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const { order, context } = await reservedOrder(product, 1);
    await activities.reserveInventory(context);
    expect(await refusal(() => activities.chargePayment({ ...context, token: testTokens.visa }))).toBeUndefined();
    expect(await refusal(() => activities.chargePayment({ ...context, token: testTokens.visa }))).toBeUndefined();
    await activities.confirmOrder(context);
    await activities.confirmOrder(context);

    expect(provider.chargeCount(order.id)).toBe(1);
    expect(await stockOf(product)).toEqual({ onHand: 4, reserved: 0 });
    expect((await prisma.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe('confirmed');
  });
});
