import { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdempotentProducer, type IdempotentProducer } from '../kafka.js';
import { OutboxRelay } from './relay.js';
import {
  keyOnSamePartition,
  memoryLogger,
  readTopic,
  recordProductUpdates,
  startEventsWorld,
  startSlowBrokerProxy,
  type EventsWorld,
  type SlowBrokerProxy,
} from '../../test/support/events.js';

// A relay whose broker answers too late: the broker writes the batch, but the answer comes after
// the request timeout, so the send fails. Its connections go through a proxy that holds the
// broker's answers back; the test's own clients talk to the broker directly.
const REQUEST_TIMEOUT_MS = 1_000;

let world: EventsWorld;
let proxy: SlowBrokerProxy;
let slowKafka: Kafka;
const producers: IdempotentProducer[] = [];

beforeAll(async () => {
  world = await startEventsWorld();
  proxy = await startSlowBrokerProxy({ host: world.config.kafka.host, port: world.config.kafka.port });
  slowKafka = new Kafka({
    clientId: 'relay-behind-a-slow-link',
    brokers: world.config.kafka.brokers,
    socketFactory: proxy.socketFactory,
    // Production's 30 s and 5 retries, shortened: the same failure, sooner.
    requestTimeout: REQUEST_TIMEOUT_MS,
    retry: { retries: 1, initialRetryTime: 100 },
  });
});

afterAll(async () => {
  await Promise.all(producers.map((p) => p.disconnect()));
  await proxy?.stop();
  await world?.close();
});

async function newRelay(kafka: Kafka): Promise<OutboxRelay> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  producers.push(producer);
  return new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log: memoryLogger(), batchSize: 100, pollIntervalMs: 100 });
}

/** Publishes once with every answer of the broker held back past the request timeout: the send fails. */
async function publishWithLateAnswers(relay: OutboxRelay): Promise<void> {
  proxy.delayAnswers(REQUEST_TIMEOUT_MS * 2);
  try {
    await expect(relay.publishBatch()).rejects.toThrow();
  } finally {
    proxy.delayAnswers(0);
  }
}

/** The event ids of the messages product-events holds (one per message), and of the outbox rows marked published. */
async function publishedIds(): Promise<{ onTopic: string[]; markedPublished: string[] }> {
  const messages = await readTopic(world.kafka, world.admin, world.names.topic('product-events'));
  const rows = await world.prisma.outboxEvent.findMany({ where: { publishedAt: { not: null } } });
  return { onTopic: messages.map((m) => m.headers['event-id']!), markedPublished: rows.map((r) => r.eventId) };
}

describe('a relay whose send timed out although the broker wrote the batch', () => {
  it('loses no event after another relay published the batch: every row marked published is on the topic', async () => {
    const slow = await newRelay(slowKafka);
    const other = await newRelay(world.kafka);
    const first = await recordProductUpdates(world.prisma, 1);
    await publishWithLateAnswers(slow);
    // The other relay publishes the row the slow one failed to mark (the topic now holds it twice).
    expect(await other.drain()).toBe(1);

    // The slow relay's next batch, one event on the same partition as its failed one.
    await recordProductUpdates(world.prisma, 1, { productId: keyOnSamePartition(first, 6) });
    expect(await slow.drain()).toBe(1);

    const { onTopic, markedPublished } = await publishedIds();
    expect(markedPublished).toHaveLength(2);
    expect(markedPublished.filter((id) => !onTopic.includes(id))).toEqual([]);
    // The timed-out batch had been written: the first event is there from both relays.
    const { eventId: firstId } = await world.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: first } });
    expect(onTopic.filter((id) => id === firstId)).toHaveLength(2);
  });

  it('is not refused forever when it alone publishes: the failed rows and the next ones all reach the topic', async () => {
    const slow = await newRelay(slowKafka);
    const productId = await recordProductUpdates(world.prisma, 1);
    await publishWithLateAnswers(slow);
    await recordProductUpdates(world.prisma, 1, { productId, from: 1 });

    expect(await slow.drain()).toBe(2);
    const rows = await world.prisma.outboxEvent.findMany({ where: { aggregateId: productId } });
    const { onTopic } = await publishedIds();
    expect(rows.map((r) => r.eventId).filter((id) => !onTopic.includes(id))).toEqual([]);
  });
});
