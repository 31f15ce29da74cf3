import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createStockedProduct } from '../test/support/domain.js';
import { createIdempotentProducer } from './kafka.js';
import { OutboxRelay } from './relay/relay.js';
import { eventSchemas, type EventType } from '../domain/events/schemas.js';
import { seedExamples } from '../test/fixtures/seed-examples.js';
import { consumeUntil, memoryLogger, runSaga, startEventsWorld, type EventsWorld } from '../test/support/events.js';
import { topicOf } from '../domain/events/topics.js';

let world: EventsWorld;

beforeAll(async () => {
  world = await startEventsWorld();
});
afterAll(() => world?.close());

/** The shape of a value: its keys and the types of their values, all the way down (arrays by their first element). */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return [shape(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shape(v)]));
  }
  return typeof value;
}

// CONTRACT §3, a confirmed saga: placed, reserved, charged, then stock committed and the order confirmed.
const confirmedSaga: EventType[] = ['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed'];

describe('a confirmed saga, published by the relay', () => {
  it('puts exactly the events of CONTRACT §3 into Kafka, in order for its key, each valid and shaped as the seed’s examples', async () => {
    const product = await createStockedProduct(world.prisma, { units: [4, 3], price: '29.99' });
    const order = await runSaga(
      { prisma: world.prisma, clock: systemClock, payments: new FakePaymentProvider() },
      { productId: product.productId, quantity: 2, token: 'tok_visa' },
    );
    const producer = createIdempotentProducer(world.kafka);
    await producer.connect();
    try {
      const relay = new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log: memoryLogger(), batchSize: 100, pollIntervalMs: 100 });
      await relay.drain();
    } finally {
      await producer.disconnect();
    }

    const topics = [...new Set(confirmedSaga.map((t) => world.names.topic(topicOf[t])))];
    const received = await consumeUntil(world.kafka, topics, (ms) => ms.filter((m) => m.key === order.id).length >= confirmedSaga.length);
    const mine = received.filter((m) => m.key === order.id);
    const events = mine.map((m) => JSON.parse(m.value!) as { event_type: EventType; timestamp: string; [k: string]: unknown });

    // Exactly these, once each; each on its topic in the order of the saga, and the saga's order over all.
    expect(events.map((e) => e.event_type).sort()).toEqual([...confirmedSaga].sort());
    for (const topic of topics) {
      const onTopic = mine.filter((m) => m.topic === topic);
      expect(onTopic.map((m) => m.headers['event-type'])).toEqual(confirmedSaga.filter((t) => world.names.topic(topicOf[t]) === topic));
      expect(new Set(onTopic.map((m) => m.partition)).size).toBe(1);
    }
    const byTime = [...events].sort((a, b) => a.timestamp.localeCompare(b.timestamp) || confirmedSaga.indexOf(a.event_type) - confirmedSaga.indexOf(b.event_type));
    expect(byTime.map((e) => e.event_type)).toEqual(confirmedSaga);

    for (const event of events) {
      expect(eventSchemas[event.event_type].parse(event)).toEqual(event);
      expect(event).toMatchObject({ event_version: '1.0', correlation_id: order.correlationId, metadata: { user_id: order.userId, trace_id: order.traceId } });
    }
    for (const example of seedExamples) {
      const event = events.find((e) => e.event_type === example.event_type);
      expect(shape(event), example.event_type).toEqual(shape(example));
    }
    const created = events.find((e) => e.event_type === 'order.created')!;
    expect(created.data).toMatchObject({ order_id: order.id, order_number: order.orderNumber, total: 59.98, currency: 'USD', items: [{ product_id: product.productId, quantity: 2, price: 29.99 }] });
  });
});
