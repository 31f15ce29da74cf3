import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnvelope } from '../domain/events/envelope.js';
import { startSubscriber, type RunningSubscriber, type Subscriber } from './consumer.js';
import { createIdempotentProducer, type IdempotentProducer } from './kafka.js';
import { memoryLogger, startEventsWorld, type EventsWorld } from '../test/support/events.js';

// Two members of one consumer group on the real Kafka: the second joins while the first is backing
// off between attempts at an event, as a scale-out or a restarted pod does.
let world: EventsWorld;
let producer: IdempotentProducer;
const running: RunningSubscriber[] = [];
const log = memoryLogger();

// Long enough that the member heartbeats (every 3 s) when it wakes from the back-off.
const slowRetry = { maxAttempts: 3, initialMs: 4_000, maxMs: 4_000 };

beforeAll(async () => {
  world = await startEventsWorld();
  producer = createIdempotentProducer(world.kafka);
  await producer.connect();
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await producer?.disconnect();
  await world?.close();
});

async function deadLetterCount(): Promise<number> {
  const offsets = await world.admin.fetchTopicOffsets(world.names.deadLetter('product-events'));
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

describe('a rebalance while a subscriber backs off from a failed attempt', () => {
  it('stops the attempts and leaves the event to be delivered again, neither dead-lettered nor committed', async () => {
    const attempts: string[] = [];
    // The search index is busy once: a transient failure a retry gets past.
    const subscriber: Subscriber = {
      group: 'search-service-group',
      handlers: {
        'product.updated': async () => {
          attempts.push(new Date().toISOString());
          if (attempts.length === 1) throw new Error('the search index is busy');
        },
      },
    };
    const deps = { kafka: world.kafka, prisma: world.prisma, names: world.names, producer, retry: slowRetry, log };
    const first = await startSubscriber(deps, subscriber);
    running.push(first);
    let rebalanced = false;
    first.consumer.on(first.consumer.events.REBALANCING, () => (rebalanced = true));

    const productId = randomUUID();
    const event = buildEnvelope({
      eventType: 'product.updated',
      aggregateId: productId,
      occurrence: '0',
      context: { correlationId: 'req-rebalance', userId: 'catalog-admin', traceId: 'trace-rebalance' },
      occurredAt: new Date(),
      data: { product_id: productId, name: 'Lantern', category: 'tests', price: 15, currency: 'USD', active: true },
    });
    const [sent] = await producer.send({ topic: world.names.topic('product-events'), messages: [{ key: productId, value: JSON.stringify(event) }] });

    await expect.poll(() => attempts.length, { timeout: 15_000 }).toBe(1);
    // The first member now sleeps through its back-off; a second one joins the group meanwhile.
    running.push(await startSubscriber(deps, subscriber));
    expect(rebalanced).toBe(true);

    const handled = () => world.prisma.inboxEvent.count({ where: { eventId: event.event_id } });
    const committedOffset = async () => {
      const [topic] = await world.admin.fetchOffsets({ groupId: world.names.group('search-service-group'), topics: [world.names.topic('product-events')] });
      return topic!.partitions.find((p) => p.partition === sent!.partition)?.offset;
    };
    // Handled once after the rebalance, and only then committed (the next offset of its partition).
    await expect
      .poll(async () => ({ deadLetters: await deadLetterCount(), handled: await handled(), committed: await committedOffset() }), { timeout: 30_000, interval: 200 })
      .toEqual({ deadLetters: 0, handled: 1, committed: String(Number(sent!.baseOffset) + 1) });
    expect(attempts).toHaveLength(2);
  }, 60_000);
});
