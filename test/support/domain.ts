import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { parseEvent, type EventEnvelope } from '../../domain/events/schemas.js';
import type { Clock } from '../../domain/clock.js';
import { Decimal } from '../../domain/money.js';
import { createOrder, type OrderWithDetails } from '../../domain/orders.js';
import { withDatabaseClient } from './env.js';

/** Data for tests: fresh rows with fresh ids, so tests share one database without meeting. */

export const address = {
  address_line1: '123 Main St',
  city: 'San Francisco',
  state: 'CA',
  postal_code: '94105',
  country: 'US',
};

/** What test orders are paid with unless a test says otherwise: the fake provider's card that succeeds. */
export const cardPayment = { method: 'card', token: 'tok_visa' } as const;

export function fixedClock(iso: string): Clock & { advance(ms: number): void } {
  let now = new Date(iso).getTime();
  const clock = () => new Date(now);
  return Object.assign(clock, { advance: (ms: number) => void (now += ms) });
}

export interface ProductFixture {
  productId: string;
  variantId: string;
  warehouseIds: string[];
  stockIds: string[];
}

/** A product with one variant at `price`, and `units[i]` units in a new warehouse i. */
export async function createStockedProduct(
  prisma: PrismaClient,
  options: { units: number[]; price?: string },
): Promise<ProductFixture> {
  const productId = randomUUID();
  const variantId = randomUUID();
  await prisma.product.create({
    data: {
      id: productId,
      slug: `test-${productId}`,
      name: `Test product ${productId.slice(0, 8)}`,
      description: 'made by a test',
      category: 'test',
      brand: 'Test',
      variants: {
        create: {
          id: variantId,
          sku: `TEST-${variantId}`,
          name: 'Standard',
          position: 0,
          price: new Decimal(options.price ?? '10.00'),
          currency: 'USD',
        },
      },
    },
  });
  const warehouseIds: string[] = [];
  const stockIds: string[] = [];
  for (const units of options.units) {
    const warehouse = await prisma.warehouse.create({
      data: { code: `T-${randomUUID()}`, name: 'Test warehouse', city: 'Testville', country: 'US' },
    });
    const stock = await prisma.stock.create({ data: { variantId, warehouseId: warehouse.id, onHand: units } });
    warehouseIds.push(warehouse.id);
    stockIds.push(stock.id);
  }
  return { productId, variantId, warehouseIds, stockIds };
}

/** A pending order for these products, one unit each unless told otherwise. */
export function placeOrder(
  prisma: PrismaClient,
  clock: Clock,
  items: { productId: string; quantity?: number }[],
): Promise<OrderWithDetails> {
  return createOrder(
    { db: prisma, clock },
    {
      userId: `user-${randomUUID()}`,
      items: items.map((i) => ({ productId: i.productId, quantity: i.quantity ?? 1 })),
      shippingAddress: address,
      payment: cardPayment,
      correlationId: randomUUID(),
    },
  );
}

/** An aggregate's outbox events, oldest first, each validated against its schema. */
export async function outboxEvents(prisma: PrismaClient, aggregateId: string): Promise<EventEnvelope[]> {
  const rows = await prisma.outboxEvent.findMany({ where: { aggregateId }, orderBy: { id: 'asc' } });
  return rows.map((r) => parseEvent(r.payload));
}

/** Makes PostgreSQL refuse to mark this order confirmed: the second half of confirming fails, as a crash or a lost connection would. */
export async function refuseConfirming<T>(orderId: string, work: () => Promise<T>): Promise<T> {
  const name = `refuse_confirm_${randomUUID().replaceAll('-', '')}`;
  await withDatabaseClient(async (client) => {
    await client.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the test refuses to confirm order %', NEW.id; END $$`);
    await client.query(`CREATE TRIGGER ${name} BEFORE UPDATE OF status ON orders FOR EACH ROW
      WHEN (NEW.id = '${orderId}'::uuid AND NEW.status = 'confirmed') EXECUTE FUNCTION ${name}()`);
  });
  try {
    return await work();
  } finally {
    await withDatabaseClient(async (client) => {
      await client.query(`DROP TRIGGER ${name} ON orders`);
      await client.query(`DROP FUNCTION ${name}()`);
    });
  }
}
