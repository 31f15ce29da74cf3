import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../domain/clock.js';
import { parseEvent } from '../domain/events/schemas.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createStockedProduct } from '../test/support/domain.js';
import { consumeUntil, fastRetry, memoryLogger, runSaga, startEventsWorld, type EventsWorld } from '../test/support/events.js';
import { startSubscriber, type RunningSubscriber } from './consumer.js';
import { createIdempotentProducer, type IdempotentProducer } from './kafka.js';
import { OutboxRelay } from './relay/relay.js';
import { createSearchSubscriber } from './subscribers/search.js';

// The confirm that commits stock, on the real PostgreSQL, announced through the real relay and
// Kafka to the real search subscriber.
let world: EventsWorld;
let producer: IdempotentProducer;
let relay: OutboxRelay;
let search: RunningSubscriber;
const payments = new FakePaymentProvider();

beforeAll(async () => {
  world = await startEventsWorld();
  producer = createIdempotentProducer(world.kafka);
  await producer.connect();
  const log = memoryLogger();
  relay = new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log, batchSize: 50, pollIntervalMs: 100 });
  search = await startSubscriber({ kafka: world.kafka, prisma: world.prisma, names: world.names, producer, retry: fastRetry, log }, createSearchSubscriber());
});

afterAll(async () => {
  await search?.stop();
  await producer?.disconnect();
  await world?.close();
});

async function stockChanges(productId: string) {
  const rows = await world.prisma.outboxEvent.findMany({ where: { aggregateId: productId, eventType: 'product.stock_changed' }, orderBy: { createdAt: 'asc' } });
  return rows.map((r) => parseEvent(r.payload));
}

describe('product.stock_changed', () => {
  it('announces, per warehouse, the stock a confirmed order left, and the search read model takes it', async () => {
    const product = await createStockedProduct(world.prisma, { units: [5, 3] });
    const [big, small] = product.warehouseIds as [string, string];
    // 6 units: the 5 of the fuller warehouse, then 1 of the other.
    const order = await runSaga({ prisma: world.prisma, clock: systemClock, payments }, { productId: product.productId, quantity: 6, token: 'tok_visa' });
    expect(order.status).toBe('confirmed');

    const events = await stockChanges(product.productId);
    expect(events.map((e) => e.data)).toEqual(
      expect.arrayContaining([
        { product_id: product.productId, warehouse_id: big, on_hand: 0, reserved: 0, available: 0 },
        { product_id: product.productId, warehouse_id: small, on_hand: 2, reserved: 0, available: 2 },
      ]),
    );
    expect(events).toHaveLength(2);
    const committed = await world.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: order.id, eventType: 'inventory.committed' } });
    for (const event of events) {
      expect(event).toMatchObject({ source_service: expect.any(String), correlation_id: order.correlationId, metadata: { user_id: order.userId } });
      expect(new Date(event.timestamp)).toEqual(committed.createdAt);
    }

    await relay.drain();
    const published = await consumeUntil(world.kafka, [world.names.topic('product-events')], (ms) => ms.filter((m) => m.key === product.productId).length === 2);
    expect(published.filter((m) => m.key === product.productId).map((m) => m.headers['event-type'])).toEqual(['product.stock_changed', 'product.stock_changed']);
    await expect
      .poll(async () => (await world.prisma.productSearchStock.findMany({ where: { productId: product.productId } })).map((r) => [r.warehouseId, r.onHand, r.reserved]).sort(), { timeout: 30_000 })
      .toEqual([[big, 0, 0], [small, 2, 0]].sort());
  });
});
