import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../test/support/api.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createStockedProduct } from '../test/support/domain.js';
import { type PrismaClient } from '../generated/prisma/client.js';
import { startSubscriber, type RunningSubscriber } from './consumer.js';
import { createIdempotentProducer, type IdempotentProducer } from './kafka.js';
import { OutboxRelay } from './relay/relay.js';
import { fileMailer } from './subscribers/mailer.js';
import { createNotificationSubscriber } from './subscribers/notification.js';
import { fastRetry, memoryLogger, runSaga, startEventsWorld, type EventsWorld } from '../test/support/events.js';

// The notification subscriber reaches PostgreSQL through a proxy the test can cut, as an outage
// would; the relay and the test use the database directly.
let world: EventsWorld;
let proxy: TcpProxy;
let subscriberDb: PrismaClient;
let producer: IdempotentProducer;
let relay: OutboxRelay;
let subscriber: RunningSubscriber;
let mailDir: string;
const log = memoryLogger();

beforeAll(async () => {
  world = await startEventsWorld();
  const target = new URL(world.config.postgres.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const viaProxy = new URL(world.config.postgres.url);
  viaProxy.host = proxy.address;
  subscriberDb = createPrisma(viaProxy.toString());
  producer = createIdempotentProducer(world.kafka);
  await producer.connect();
  relay = new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log, batchSize: 50, pollIntervalMs: 100 });
  mailDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-saga-outage-mail-'));
  subscriber = await startSubscriber(
    { kafka: world.kafka, prisma: subscriberDb, names: world.names, producer, retry: fastRetry, log },
    createNotificationSubscriber({ mailer: fileMailer(mailDir, 'Order Saga <orders@order-saga.test>'), clock: systemClock, recipientDomain: 'example.com' }),
  );
});

afterAll(async () => {
  await subscriber?.stop();
  await producer?.disconnect();
  await subscriberDb?.$disconnect();
  await proxy?.stop().catch(() => undefined);
  await world?.close();
  if (mailDir) await fs.rm(mailDir, { recursive: true, force: true });
});

/** Messages ever written to order-events.dlq (the topic is this file's own). */
async function deadLetterCount(): Promise<number> {
  const offsets = await world.admin.fetchTopicOffsets(world.names.deadLetter('order-events'));
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

describe('a subscriber whose database is down', () => {
  it('holds the event instead of dead-lettering it, and handles it once the database is back', async () => {
    const product = await createStockedProduct(world.prisma, { units: [3] });
    await proxy.stop();
    const order = await runSaga({ prisma: world.prisma, clock: systemClock, payments: new FakePaymentProvider() }, {
      productId: product.productId,
      quantity: 1,
      token: 'tok_visa',
    });
    await relay.drain();

    // Well past the attempts a poison event gets (fastRetry: 3 attempts in well under a second).
    await expect.poll(() => log.entries.some((e) => e.message === 'the database does not answer; holding the event'), { timeout: 15_000 }).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await deadLetterCount()).toBe(0);

    await proxy.start();
    await expect.poll(() => world.prisma.notification.count({ where: { orderId: order.id } }), { timeout: 30_000, interval: 200 }).toBe(1);
    expect(await deadLetterCount()).toBe(0);
  }, 90_000);
});
