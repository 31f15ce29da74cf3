import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../../db/prisma.js';
import { type PrismaClient } from '../../generated/prisma/client.js';
import { createIdempotentProducer, type IdempotentProducer } from '../kafka.js';
import { OutboxRelay, outboxLag } from './relay.js';
import { consumeUntil, memoryLogger, recordProductUpdates, startEventsWorld, type EventsWorld, type Received } from '../../test/support/events.js';

let world: EventsWorld;
const producers: IdempotentProducer[] = [];
const clients: PrismaClient[] = [];

beforeAll(async () => {
  world = await startEventsWorld();
});

afterAll(async () => {
  await Promise.all(producers.map((p) => p.disconnect()));
  await Promise.all(clients.map((c) => c.$disconnect()));
  await world?.close();
});

/** A relay as its own process would have it: its own connections. */
async function newRelay(options: { batchSize?: number; pollIntervalMs?: number; listen?: boolean; jitterMs?: number } = {}) {
  const producer = createIdempotentProducer(world.kafka);
  await producer.connect();
  producers.push(producer);
  const published = { messages: 0 };
  const counting: IdempotentProducer = {
    ...producer,
    sendBatch: async (batch) => {
      // A relay that is sometimes slower than the other: a race that would reorder a key shows.
      if (options.jitterMs) await new Promise((resolve) => setTimeout(resolve, Math.random() * options.jitterMs!));
      const result = await producer.sendBatch(batch);
      published.messages += batch.topicMessages!.reduce((n, t) => n + t.messages.length, 0);
      return result;
    },
  };
  const prisma = createPrisma(world.config.postgres.url, { poolSize: 2 });
  clients.push(prisma);
  const log = memoryLogger();
  const relay = new OutboxRelay({
    prisma,
    producer: counting,
    names: world.names,
    log,
    batchSize: options.batchSize ?? 100,
    pollIntervalMs: options.pollIntervalMs ?? 200,
    listenUrl: options.listen ? world.config.postgres.url : undefined,
  });
  return Object.assign(relay, { published, log });
}

/** The `vN` names of each key's product.updated messages, in the order Kafka holds them. */
function sequencesByKey(messages: Received[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const m of messages) {
    const event = JSON.parse(m.value!) as { data: { name: string } };
    byKey.set(m.key!, [...(byKey.get(m.key!) ?? []), Number(event.data.name.slice(1))]);
  }
  return byKey;
}

// kafkajs is CommonJS, and Node's ESM loader does not see this export by name.
const { ConfigResourceTypes } = kafkajs;

async function maxMessageBytes(topic: string): Promise<string | undefined> {
  const { resources } = await world.admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
  });
  return resources[0]?.configEntries[0]?.configValue;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('the outbox relay', () => {
  it('publishes rows in order per key with the event’s headers, marks them, and brings the lag to 0', async () => {
    const productId = await recordProductUpdates(world.prisma, 5);
    await world.prisma.outboxEvent.updateMany({
      where: { aggregateId: productId },
      data: { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'not-a-string': 7 } },
    });
    const before = await outboxLag(world.prisma);
    expect(before.unpublished).toBeGreaterThanOrEqual(5);

    const relay = await newRelay({ batchSize: 2 });
    expect(await relay.drain()).toBe(before.unpublished);

    const messages = await consumeUntil(world.kafka, [world.names.topic('product-events')], (ms) => ms.filter((m) => m.key === productId).length === 5);
    const mine = messages.filter((m) => m.key === productId);
    expect(sequencesByKey(mine).get(productId)).toEqual(range(5));
    expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
    const rows = await world.prisma.outboxEvent.findMany({ where: { aggregateId: productId }, orderBy: { id: 'asc' } });
    expect(mine[0]!.headers).toEqual({
      'event-id': rows[0]!.eventId,
      'event-type': 'product.updated',
      'event-version': '1.0',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(JSON.parse(mine[0]!.value!)).toEqual(rows[0]!.payload);
    expect(rows.every((r) => r.publishedAt instanceof Date)).toBe(true);
    expect(await outboxLag(world.prisma)).toEqual({ unpublished: 0, oldestAgeMs: 0, parked: 0, held: 0 });
  });

  it('reports how many rows wait and how long the oldest has', async () => {
    await recordProductUpdates(world.prisma, 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lag = await outboxLag(world.prisma);
    expect(lag.unpublished).toBe(3);
    expect(lag.oldestAgeMs).toBeGreaterThanOrEqual(40);
    await (await newRelay()).drain();
    expect((await outboxLag(world.prisma)).unpublished).toBe(0);
  });

  it('wakes on the outbox trigger’s NOTIFY without waiting for its poll', async () => {
    const relay = await newRelay({ pollIntervalMs: 60_000, listen: true });
    relay.start();
    try {
      // Let the relay's first pass find nothing and fall asleep on its minute-long poll.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const productId = await recordProductUpdates(world.prisma, 1);
      await expect
        .poll(async () => (await world.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: productId } })).publishedAt, { timeout: 5_000 })
        .toBeInstanceOf(Date);
    } finally {
      await relay.stop();
    }
  });

  it('run twice at once over many orders publishes every event once, each key’s in order', async () => {
    const keys = range(10).map(() => randomUUID());
    const perKey = 12;
    // A backlog, one event of every key at a time, so each key's events are spread over many batches.
    for (let round = 0; round < perKey / 2; round += 1) {
      await Promise.all(keys.map((productId) => recordProductUpdates(world.prisma, 1, { productId, from: round })));
    }
    const relays = [
      await newRelay({ batchSize: 4, pollIntervalMs: 20, jitterMs: 30 }),
      await newRelay({ batchSize: 4, pollIntervalMs: 20, jitterMs: 30 }),
    ];
    for (const relay of relays) relay.start();
    try {
      // And more while both run, so keys also grow under them.
      for (let round = perKey / 2; round < perKey; round += 1) {
        await Promise.all(keys.map((productId) => recordProductUpdates(world.prisma, 1, { productId, from: round })));
      }
      await expect.poll(async () => (await outboxLag(world.prisma)).unpublished, { timeout: 30_000 }).toBe(0);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    // Both took their share, and together they sent each event once.
    expect(relays.every((r) => r.published.messages > 0)).toBe(true);
    expect(relays[0]!.published.messages + relays[1]!.published.messages).toBe(keys.length * perKey);

    const wanted = new Set<string>(keys);
    const messages = await consumeUntil(
      world.kafka,
      [world.names.topic('product-events')],
      (ms) => ms.filter((m) => wanted.has(m.key!)).length >= keys.length * perKey,
    );
    const sequences = sequencesByKey(messages.filter((m) => wanted.has(m.key!)));
    expect(sequences.size).toBe(keys.length);
    for (const key of keys) expect(sequences.get(key)).toEqual(range(perKey));
  });

  it('parks a row the broker can never take, reports it, and keeps the other orders’ rows flowing', async () => {
    const blocked = await recordProductUpdates(world.prisma, 2);
    // Its first event grows past the broker's message limit (message.max.bytes, 1 MB by default).
    await world.prisma.$executeRaw`
      UPDATE outbox SET payload = jsonb_set(payload, '{data,name}', to_jsonb(repeat('x', 1100000)))
      WHERE id = (SELECT min(id) FROM outbox WHERE aggregate_id = ${blocked})`;
    const others = [await recordProductUpdates(world.prisma, 2), await recordProductUpdates(world.prisma, 2)];

    const relay = await newRelay({ pollIntervalMs: 50 });
    relay.start();
    try {
      await expect.poll(() => world.prisma.outboxEvent.count({ where: { aggregateId: { in: others }, publishedAt: null } }), { timeout: 15_000 }).toBe(0);
      // Another round after it: the parked row is not tried again.
      await recordProductUpdates(world.prisma, 1);
      await expect.poll(async () => (await outboxLag(world.prisma)).unpublished, { timeout: 15_000 }).toBe(0);
    } finally {
      await relay.stop();
    }

    const rows = await world.prisma.outboxEvent.findMany({ where: { aggregateId: blocked }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => ({ published: r.publishedAt !== null, parked: r.parkedAt !== null }))).toEqual([
      { published: false, parked: true },
      // Behind it, in order: held for the operator, not published past it.
      { published: false, parked: false },
    ]);
    expect(rows[0]!.parkReason).toMatch(/larger than the max message size/);
    expect(await outboxLag(world.prisma)).toMatchObject({ unpublished: 0, oldestAgeMs: 0, parked: 1, held: 1 });
    const parkedLogs = relay.log.entries.filter((e) => e.message.startsWith('outbox row parked'));
    expect(parkedLogs.map((e) => e.fields.eventId)).toEqual([rows[0]!.eventId]);

    // (At least once: rows of the refused batch that the broker took are there twice.)
    const othersIds = (await world.prisma.outboxEvent.findMany({ where: { aggregateId: { in: others } } })).map((r) => r.eventId);
    const published = await consumeUntil(world.kafka, [world.names.topic('product-events')], (ms) =>
      othersIds.every((id) => ms.some((m) => m.headers['event-id'] === id)),
    );
    expect(published.filter((m) => m.key === blocked)).toEqual([]);

    // The operator raises the topic's limit and clears the mark: the order's events go out, in order.
    await world.admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: world.names.topic('product-events'), configEntries: [{ name: 'max.message.bytes', value: '2000000' }] }],
    });
    await expect.poll(() => maxMessageBytes(world.names.topic('product-events'))).toBe('2000000');
    await world.prisma.outboxEvent.update({ where: { id: rows[0]!.id }, data: { parkedAt: null, parkReason: null } });
    expect(await relay.drain()).toBe(2);
    const resumed = await consumeUntil(world.kafka, [world.names.topic('product-events')], (ms) => ms.filter((m) => m.key === blocked).length === 2);
    expect(resumed.filter((m) => m.key === blocked).map((m) => m.headers['event-id'])).toEqual(rows.map((r) => r.eventId));
  });
});
