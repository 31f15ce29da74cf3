import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
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
