import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Admin, type ISocketFactory, type Kafka, type KafkaMessage } from 'kafkajs';
import { type Config } from '../../config/index.js';
import { createPrisma } from '../../db/prisma.js';
import { type Clock } from '../../domain/clock.js';
import { PaymentDeclinedError } from '../../domain/errors.js';
import { commitReservation, releaseReservation, reserveInventory } from '../../domain/inventory.js';
import { createOrder, transitionOrder, type OrderWithDetails } from '../../domain/orders.js';
import { recordEvent } from '../../domain/outbox.js';
import { chargePayment } from '../../domain/payments/payments.js';
import { type PaymentProvider } from '../../domain/payments/provider.js';
import { address } from './domain.js';
import { type PrismaClient } from '../../generated/prisma/client.js';
import { applyMigrations } from '../../prisma/migrate.js';
import { testConfig, uniqueName, withDatabaseClient } from './env.js';
import { type RetryPolicy } from '../../events/consumer.js';
import { createKafka } from '../../events/kafka.js';
import { createLogger, type Logger } from '../../runtime/log.js';
import { provisionTopics, topicSpecs } from '../../events/provision.js';
import { kafkaNames, type KafkaNames } from '../../events/kafka-names.js';
import { trackPair } from './tcp.js';

/**
 * The events tests' world: a database of their own (the relay publishes every unpublished row, so
 * it must not meet the rows other test files leave behind), topics and consumer groups behind a
 * prefix of their own, deleted afterwards.
 */
export interface EventsWorld {
  config: Config;
  prisma: PrismaClient;
  kafka: Kafka;
  admin: Admin;
  names: KafkaNames;
  close(): Promise<void>;
}

/** A new, migrated database; `drop` removes it. */
export async function isolatedDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName('events_db').replaceAll('-', '_');
  await withDatabaseClient((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = new URL(testConfig().postgres.url);
  url.pathname = `/${name}`;
  await applyMigrations(url.toString());
  return {
    url: url.toString(),
    drop: () => withDatabaseClient((c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Names for a test: a prefix no other test or run uses. */
export function testNames(): KafkaNames & { prefix: string } {
  const prefix = `${uniqueName('ev')}.`;
  return { prefix, ...kafkaNames(prefix) };
}

export async function startEventsWorld(options: { provision?: boolean } = {}): Promise<EventsWorld> {
  const database = await isolatedDatabase();
  const names = testNames();
  const base = testConfig();
  const config: Config = {
    ...base,
    postgres: { ...base.postgres, url: database.url },
    kafka: { ...base.kafka, topicPrefix: names.prefix },
  };
  const prisma = createPrisma(database.url);
  const kafka = createKafka(config, 'test', createLogger('test', 'warn'));
  const admin = kafka.admin();
  await admin.connect();
  if (options.provision !== false) {
    await provisionTopics(admin, { names, replicationFactor: config.kafka.replicationFactor, minInsyncReplicas: config.kafka.minInsyncReplicas });
  }
  return {
    config,
    prisma,
    kafka,
    admin,
    names,
    async close() {
      await deleteTopics(admin, names);
      await admin.disconnect();
      await prisma.$disconnect();
      await database.drop();
    },
  };
}

/** Deletes a test's topics, so that runs do not pile them up on the shared broker. */
export async function deleteTopics(admin: Admin, names: KafkaNames): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const ours = topicSpecs(names).map((s) => s.name).filter((name) => existing.has(name));
  if (ours.length) await admin.deleteTopics({ topics: ours });
}

/** Retries quickly: the policy's shape, at test speed. */
export const fastRetry: RetryPolicy = { maxAttempts: 3, initialMs: 50, maxMs: 200 };

/** A logger that keeps what it is told, for tests to look at. */
export function memoryLogger(): Logger & { entries: { level: string; message: string; fields: Record<string, unknown> }[] } {
  const entries: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void entries.push({ level, message, fields });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Received {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function received(topic: string, partition: number, message: KafkaMessage): Received {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = (Array.isArray(value) ? value[0] : value)!.toString();
  }
  return { topic, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers };
}

/**
 * Reads topics from the beginning in a group of its own until `done` says it has seen enough (or
 * the timeout passes, and then throws with what it saw). Messages come in partition order.
 */
export async function consumeUntil(
  kafka: Kafka,
  topics: string[],
  done: (messages: Received[]) => boolean,
  timeoutMs = 30_000,
): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('test-reader') });
  const messages: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    let finish: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        messages.push(received(topic, partition, message));
        if (done(messages)) finish();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`saw ${messages.length} messages on ${topics.join(', ')} in ${timeoutMs} ms, not what was awaited`)), timeoutMs);
    });
    await Promise.race([finished, timedOut]).finally(() => clearTimeout(timer));
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * product.updated events of one product, numbered `from`…`from + count - 1` (occurrence and name
 * "vN"): a key with many events on one topic. Returns the product id (a new one unless given).
 */
export async function recordProductUpdates(
  prisma: PrismaClient,
  count: number,
  options: { productId?: string; from?: number } = {},
): Promise<string> {
  const productId = options.productId ?? randomUUID();
  const from = options.from ?? 0;
  for (let i = from; i < from + count; i += 1) {
    await prisma.$transaction((tx) =>
      recordEvent(tx, {
        eventType: 'product.updated',
        aggregate: { type: 'product', id: productId },
        occurrence: String(i),
        context: { correlationId: randomUUID(), userId: 'catalog-admin', traceId: randomUUID().replaceAll('-', '') },
        occurredAt: new Date(),
        data: { product_id: productId, name: `v${i}`, category: 'tests', price: 10 + i, currency: 'USD', active: true },
      }),
    );
  }
  return productId;
}

/** The saga's steps for one order, run in order as OrderSaga runs them (activities/index.ts). */
export async function runSaga(
  deps: { prisma: PrismaClient; clock: Clock; payments: PaymentProvider },
  order: { productId: string; quantity: number; token: string; orderId?: string; userId?: string },
): Promise<OrderWithDetails> {
  const db = { db: deps.prisma, clock: deps.clock };
  const placed = await createOrder(db, {
    id: order.orderId,
    userId: order.userId ?? `user-${randomUUID()}`,
    items: [{ productId: order.productId, quantity: order.quantity }],
    shippingAddress: address,
    payment: { method: 'card', token: order.token },
    correlationId: randomUUID(),
  });
  await reserveInventory(db, { orderId: placed.id, lines: placed.items.map((i) => ({ variantId: i.variantId, quantity: i.quantity })) });
  await transitionOrder(db, { orderId: placed.id, to: 'inventory_reserved' });
  try {
    await chargePayment(
      { ...db, provider: deps.payments },
      { order: placed, token: order.token },
    );
  } catch (error) {
    if (!(error instanceof PaymentDeclinedError)) throw error;
    await releaseReservation(db, { orderId: placed.id, reason: 'payment_declined' });
    return transitionOrder(db, { orderId: placed.id, to: 'failed', reason: 'payment_declined' });
  }
  await commitReservation(db, { orderId: placed.id });
  return transitionOrder(db, { orderId: placed.id, to: 'confirmed' });
}

/** A key that Kafka's default partitioner puts on the same partition as `key`, among `partitions`. */
export function keyOnSamePartition(key: string, partitions: number): string {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const partitionOf = (k: string) => partitioner({ topic: 't', partitionMetadata, message: { key: k, value: null } });
  for (;;) {
    const candidate = randomUUID();
    if (partitionOf(candidate) === partitionOf(key)) return candidate;
  }
}

/**
 * A TCP proxy in front of one broker that can hold the broker's answers back (the requests go
 * through at once), and a kafkajs socket factory that sends every connection through it. kafkajs
 * connects to the addresses the broker advertises once it has read the metadata, so a proxy on the
 * bootstrap address alone would be bypassed; through the socket factory, every connection is proxied.
 */
export async function startSlowBrokerProxy(broker: { host: string; port: number }): Promise<SlowBrokerProxy> {
  let delayMs = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(broker.port, broker.host);
    trackPair(sockets, client, upstream);
    client.pipe(upstream);
    // Each chunk of an answer is due `delayMs` after it came, and never before the one ahead of it.
    let delivered = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      const due = Date.now() + delayMs;
      delivered = delivered.then(async () => {
        await sleep(Math.max(0, due - Date.now()));
        if (!client.destroyed) client.write(chunk);
      });
    });
    upstream.on('end', () => void delivered.then(() => client.end()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    socketFactory: ({ onConnect }) => net.connect({ host: '127.0.0.1', port }, onConnect),
    delayAnswers(ms) {
      delayMs = ms;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

export interface SlowBrokerProxy {
  /** For `new Kafka({ socketFactory })`: every connection goes through the proxy. */
  socketFactory: ISocketFactory;
  /** Holds each answer back this long from now on (0: passes them on at once). */
  delayAnswers(ms: number): void;
  stop(): Promise<void>;
}

/** Every message a topic holds now, read from the beginning up to each partition's end. */
export async function readTopic(kafka: Kafka, admin: Admin, topic: string): Promise<Received[]> {
  const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => Number(p.high) > Number(p.low));
  const last = new Map(ends.map((p) => [p.partition, String(Number(p.high) - 1)]));
  if (!last.size) return [];
  const reached = new Set<number>();
  return consumeUntil(kafka, [topic], (messages) => {
    const m = messages[messages.length - 1]!;
    if (last.get(m.partition) === m.offset) reached.add(m.partition);
    return reached.size === last.size;
  });
}
