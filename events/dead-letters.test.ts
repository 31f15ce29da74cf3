import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createStockedProduct } from '../test/support/domain.js';
import { fastRetry, memoryLogger, runSaga, startEventsWorld, type EventsWorld } from '../test/support/events.js';
import { startSubscriber, type RunningSubscriber } from './consumer.js';
import { createIdempotentProducer, type IdempotentProducer } from './kafka.js';
import { OutboxRelay } from './relay/relay.js';
import { fileMailer, type Mailer } from './subscribers/mailer.js';
import { createNotificationSubscriber } from './subscribers/notification.js';

const exec = promisify(execFile);

// The notification subscriber on the real Kafka and PostgreSQL, fed by the real relay; its mail
// server (the only edge faked) refuses everything until the test "fixes" it.
let world: EventsWorld;
let producer: IdempotentProducer;
let relay: OutboxRelay;
let subscriber: RunningSubscriber;
let mailDir: string;
let mailServerDown = true;

beforeAll(async () => {
  world = await startEventsWorld();
  mailDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-saga-dlq-mail-'));
  const files = fileMailer(mailDir, 'Order Saga <orders@order-saga.test>');
  const mailer: Mailer = {
    send: async (message) => {
      if (mailServerDown) throw new Error('mail server unavailable: 421 try again later');
      return files.send(message);
    },
    close: () => files.close(),
  };
  producer = createIdempotentProducer(world.kafka);
  await producer.connect();
  const log = memoryLogger();
  relay = new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log, batchSize: 50, pollIntervalMs: 100 });
  subscriber = await startSubscriber(
    { kafka: world.kafka, prisma: world.prisma, names: world.names, producer, retry: fastRetry, log },
    createNotificationSubscriber({ mailer, clock: systemClock, recipientDomain: 'example.com' }),
  );
});

afterAll(async () => {
  await subscriber?.stop();
  await producer?.disconnect();
  await world?.close();
  if (mailDir) await fs.rm(mailDir, { recursive: true, force: true });
});

/** `npm run dlq -- <args>` as a user runs it, against this test's topics. */
async function dlq(...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'scripts/dlq.ts', ...args], {
    cwd: projectRoot,
    env: { ...process.env, KAFKA_TOPIC_PREFIX: world.config.kafka.topicPrefix },
  });
  return stdout;
}

describe('dead letters', () => {
  it('are listed with their key, error and origin, and once the cause is fixed, replayed to their subscriber, once', async () => {
    const product = await createStockedProduct(world.prisma, { units: [5] });
    const order = await runSaga({ prisma: world.prisma, clock: systemClock, payments: new FakePaymentProvider() }, { productId: product.productId, quantity: 1, token: 'tok_visa' });
    await relay.drain();

    // The confirmation e-mail fails every attempt: the event ends in order-events.dlq.
    await expect.poll(() => dlq('list', 'order-events'), { timeout: 30_000, interval: 1_000 }).toContain(`key ${order.id}`);
    const listed = await dlq('list', 'order-events');
    expect(listed).toMatch(new RegExp(`key ${order.id}\\n  event  order\\.confirmed [0-9a-f-]{36}\\n  from   ${world.names.topic('order-events').replaceAll('.', '\\.')} partition \\d+ offset \\d+, group ${world.names.group('notification-service-group')}, after ${fastRetry.maxAttempts} attempt\\(s\\)\\n  error  mail server unavailable: 421 try again later`));
    expect(listed).toMatch(/\d+\/\d+ {2}\d{4}-\d\d-\d\dT[\d:.]+Z/);
    expect(listed).toContain('1 dead letter(s) in');
    expect(listed).toContain('1 not replayed');
    expect(await world.prisma.notification.count({ where: { orderId: order.id } })).toBe(0);

    mailServerDown = false;
    expect(await dlq('replay', 'order-events')).toContain('1 dead letter(s) replayed');
    await expect.poll(() => world.prisma.notification.count({ where: { orderId: order.id, template: 'order_confirmed' } }), { timeout: 30_000 }).toBe(1);

    // Replayed ones stay listed, marked; a second replay sends nothing again.
    const after = await dlq('list', 'order-events.dlq');
    expect(after).toContain(`key ${order.id}  [replayed]`);
    expect(after).toContain('0 not replayed');
    expect(await dlq('replay', 'order-events')).toContain('0 dead letter(s) replayed');
  });

  it('refuses an unknown topic or command with the usage', async () => {
    await expect(dlq('list', 'orders')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('unknown topic "orders"') });
    await expect(dlq('purge', 'order-events')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('usage: npm run dlq -- list|replay <topic>') });
  });
});
