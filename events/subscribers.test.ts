import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevToken } from '../api/auth.js';
import { startApi, type TestApi } from '../test/support/api.js';
import { systemClock } from '../domain/clock.js';
import { transitionOrder } from '../domain/orders.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createStockedProduct, fixedClock, placeOrder } from '../test/support/domain.js';
import { deadLetterHeaders, startSubscriber, type RunningSubscriber } from './consumer.js';
import { buildEnvelope } from '../domain/events/envelope.js';
import { createIdempotentProducer, type IdempotentProducer } from './kafka.js';
import { OutboxRelay } from './relay/relay.js';
import { createAnalyticsSubscriber } from './subscribers/analytics.js';
import { fileMailer, type Mailer } from './subscribers/mailer.js';
import { createNotificationSubscriber, recipientOf } from './subscribers/notification.js';
import { rebuildProductSearch } from '../read-models/search.js';
import { createSearchSubscriber } from './subscribers/search.js';
import {
  consumeUntil,
  fastRetry,
  keyOnSamePartition,
  memoryLogger,
  runSaga,
  startEventsWorld,
  type EventsWorld,
} from '../test/support/events.js';

// The three subscribers in their consumer groups on the real Kafka and PostgreSQL, fed by the real
// relay from the outbox rows the domain writes. The mailer is the only edge faked: it writes files,
// and refuses mail to one address, so a handler that always fails can be watched.
const UNDELIVERABLE = 'undeliverable-user';

let world: EventsWorld;
let producer: IdempotentProducer;
let relay: OutboxRelay;
let api: TestApi;
let mailDir: string;
const running: RunningSubscriber[] = [];
const payments = new FakePaymentProvider();
const log = memoryLogger();

beforeAll(async () => {
  world = await startEventsWorld();
  mailDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-saga-mail-'));
  const files = fileMailer(mailDir, 'Order Saga <orders@order-saga.test>');
  const mailer: Mailer = {
    send: async (message) => {
      if (message.to.startsWith(UNDELIVERABLE)) throw new Error(`mail server refused ${message.to}`);
      return files.send(message);
    },
    close: () => files.close(),
  };
  producer = createIdempotentProducer(world.kafka);
  await producer.connect();
  relay = new OutboxRelay({ prisma: world.prisma, producer, names: world.names, log, batchSize: 50, pollIntervalMs: 100 });
  const deps = { kafka: world.kafka, prisma: world.prisma, names: world.names, producer, retry: fastRetry, log };
  const subscribers = [
    createNotificationSubscriber({ mailer, clock: systemClock, recipientDomain: 'example.com' }),
    createSearchSubscriber(),
    createAnalyticsSubscriber(),
  ];
  running.push(...(await Promise.all(subscribers.map((s) => startSubscriber(deps, s)))));
  api = await startApi({ databaseUrl: world.config.postgres.url });
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await api?.close();
  await producer?.disconnect();
  await world?.close();
  if (mailDir) await fs.rm(mailDir, { recursive: true, force: true });
});

const poll = { timeout: 30_000, interval: 100 };

async function stockOf(productId: string) {
  const rows = await world.prisma.productSearchStock.findMany({ where: { productId } });
  return { onHand: rows.reduce((n, r) => n + r.onHand, 0), reserved: rows.reduce((n, r) => n + r.reserved, 0) };
}

async function adminToken(roles: string[]) {
  return `Bearer ${await signDevToken(api.config.jwt, 'ops-user', undefined, roles)}`;
}

describe('the notification subscriber', () => {
  it('emails a confirmed order’s customer, records it and puts notification.sent in the outbox', async () => {
    const product = await createStockedProduct(world.prisma, { units: [5], price: '12.50' });
    const order = await runSaga({ prisma: world.prisma, clock: systemClock, payments }, { productId: product.productId, quantity: 2, token: 'tok_visa' });
    await relay.drain();

    await expect.poll(() => world.prisma.notification.count({ where: { orderId: order.id } }), poll).toBe(1);
    const sent = await world.prisma.notification.findFirstOrThrow({ where: { orderId: order.id } });
    expect(sent).toMatchObject({ template: 'order_confirmed', channel: 'email', recipient: recipientOf(order.userId, 'example.com') });

    const eml = await fs.readFile(path.join(mailDir, `${sent.id}.eml`), 'utf8');
    expect(eml).toContain(`To: ${sent.recipient}`);
    expect(eml).toContain(`Subject: Your order ${order.orderNumber} is confirmed`);
    expect(eml).toContain('Total: 25.00 USD');
    expect(eml).toContain(`Message-ID: <${sent.id}@order-saga>`);

    const announced = await world.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: order.id, eventType: 'notification.sent' } });
    expect(announced.payload).toMatchObject({
      source_service: 'notification-service',
      data: { notification_id: sent.id, order_id: order.id, user_id: order.userId, channel: 'email', template: 'order_confirmed' },
    });
    await relay.drain();
    const published = await consumeUntil(world.kafka, [world.names.topic('notification-events')], (ms) => ms.some((m) => m.key === order.id));
    expect(JSON.parse(published.find((m) => m.key === order.id)!.value!)).toEqual(announced.payload);
  });

  it('sends an event whose handling always fails to order-events.dlq with its coordinates, and the partition moves on', async () => {
    const product = await createStockedProduct(world.prisma, { units: [5] });
    const stuck = await placeOrder(world.prisma, systemClock, [{ productId: product.productId }]);
    await world.prisma.order.update({ where: { id: stuck.id }, data: { userId: UNDELIVERABLE } });
    await transitionOrder({ db: world.prisma, clock: systemClock }, { orderId: stuck.id, to: 'failed', reason: 'out_of_stock' });
    const next = await runSaga(
      { prisma: world.prisma, clock: systemClock, payments },
      { productId: product.productId, quantity: 1, token: 'tok_chargeDeclined', orderId: keyOnSamePartition(stuck.id, 6) },
    );
    await relay.drain();

    await expect.poll(() => world.prisma.notification.count({ where: { orderId: next.id, template: 'order_failed' } }), poll).toBe(1);
    expect(await world.prisma.notification.count({ where: { orderId: stuck.id } })).toBe(0);

    const dlq = await consumeUntil(world.kafka, [world.names.deadLetter('order-events')], (ms) => ms.some((m) => m.key === stuck.id));
    const letter = dlq.find((m) => m.key === stuck.id)!;
    const original = await consumeUntil(world.kafka, [world.names.topic('order-events')], (ms) =>
      ms.some((m) => m.key === stuck.id && m.headers['event-type'] === 'order.failed'),
    );
    const failedEvent = original.find((m) => m.key === stuck.id && m.headers['event-type'] === 'order.failed')!;
    expect(letter.headers).toMatchObject({
      [deadLetterHeaders.topic]: world.names.topic('order-events'),
      [deadLetterHeaders.partition]: String(failedEvent.partition),
      [deadLetterHeaders.offset]: failedEvent.offset,
      [deadLetterHeaders.consumerGroup]: world.names.group('notification-service-group'),
      [deadLetterHeaders.attempts]: String(fastRetry.maxAttempts),
      [deadLetterHeaders.error]: expect.stringContaining('mail server refused'),
      'event-type': 'order.failed',
    });
    expect(letter.value).toBe(failedEvent.value);
    // The next order's events were on the same partition, after the stuck one.
    const nextFailed = await consumeUntil(world.kafka, [world.names.topic('order-events')], (ms) =>
      ms.some((m) => m.key === next.id && m.headers['event-type'] === 'order.failed'),
    );
    const after = nextFailed.find((m) => m.key === next.id && m.headers['event-type'] === 'order.failed')!;
    expect(after.partition).toBe(failedEvent.partition);
    expect(Number(after.offset)).toBeGreaterThan(Number(failedEvent.offset));
  });
});

describe('a poison message', () => {
  it('that is not a valid event goes to the dead-letter topic at once, and later events on its partition still flow', async () => {
    const key = keyOnSamePartition('poison', 6);
    const topic = world.names.topic('order-events');
    const valid = buildEnvelope({
      eventType: 'order.created',
      aggregateId: key,
      context: { correlationId: 'req-poison', userId: 'user-poison', traceId: 'trace-poison' },
      occurredAt: new Date('2031-01-02T03:04:05Z'),
      data: {
        order_id: key,
        order_number: 'ORD-2031-99999',
        user_id: 'user-poison',
        total: 10,
        currency: 'EUR',
        items: [{ product_id: key, quantity: 1, price: 10 }],
        shipping_address: { address_line1: '1 Rue', city: 'Paris', state: 'IDF', postal_code: '75001', country: 'FR' },
      },
    });
    await producer.send({
      topic,
      messages: [
        { key: 'poison', value: '{"event_type":"order.failed","data":"not an order"}' },
        { key, value: JSON.stringify(valid) },
      ],
    });

    await expect.poll(() => world.prisma.analyticsOrder.findUnique({ where: { orderId: key } }), poll).toMatchObject({ status: 'pending' });
    const dlq = await consumeUntil(world.kafka, [world.names.deadLetter('order-events')], (ms) => ms.filter((m) => m.key === 'poison').length === 2);
    const letters = dlq.filter((m) => m.key === 'poison');
    expect(letters.map((m) => m.headers[deadLetterHeaders.consumerGroup]).sort()).toEqual(
      [world.names.group('analytics-service-group'), world.names.group('notification-service-group')].sort(),
    );
    for (const letter of letters) {
      expect(letter.headers).toMatchObject({
        [deadLetterHeaders.topic]: topic,
        [deadLetterHeaders.attempts]: '0',
        [deadLetterHeaders.error]: expect.stringContaining('unreadable event'),
      });
      expect(letter.value).toBe('{"event_type":"order.failed","data":"not an order"}');
    }
  });
});

describe('events from a newer producer (a rolling deploy)', () => {
  it('are ignored when of a type the group does not handle, read when they only add fields or a minor version, and dead-lettered when they cannot be read', async () => {
    const key = keyOnSamePartition('rolling', 6);
    const topic = world.names.topic('order-events');
    const context = { correlationId: 'req-rolling', userId: 'user-rolling', traceId: 'trace-rolling' };
    const occurredAt = new Date('2031-03-04T05:06:07Z');
    const orderRef = { order_id: key, order_number: 'ORD-2031-77777', user_id: 'user-rolling' };
    const created = buildEnvelope({
      eventType: 'order.created',
      aggregateId: key,
      context,
      occurredAt,
      data: {
        ...orderRef,
        total: 20,
        currency: 'EUR',
        items: [{ product_id: key, quantity: 2, price: 10 }],
        shipping_address: { address_line1: '1 Rue', city: 'Paris', state: 'IDF', postal_code: '75001', country: 'FR' },
      },
    });
    const confirmed = buildEnvelope({
      eventType: 'order.confirmed',
      aggregateId: key,
      context,
      occurredAt,
      data: { ...orderRef, total: 20, currency: 'EUR', confirmed_at: occurredAt.toISOString() },
    });
    const newer = [
      // A type this release does not know at all.
      { ...confirmed, event_id: randomUUID(), event_type: 'order.shipped', data: { ...orderRef, carrier: 'DHL' } },
      // A minor version that adds fields, in the envelope and deep in the payload.
      {
        ...created,
        event_version: '1.1',
        schema_url: 'https://schemas.example/order.created/1.1',
        data: {
          ...created.data,
          discount: 0,
          items: created.data.items.map((i) => ({ ...i, sku: 'SKU-1' })),
          shipping_address: { ...created.data.shipping_address, phone: '+33 1 23 45 67 89' },
        },
        metadata: { ...created.metadata, tenant: 'eu' },
      },
      { ...confirmed, event_version: '1.1', data: { ...confirmed.data, loyalty_points: 20 } },
      // A new major version of a type both groups handle: not readable by this release.
      { ...confirmed, event_id: randomUUID(), event_type: 'order.failed', event_version: '2.0', data: { order: orderRef, reason: { code: 'x' } } },
    ];
    await producer.send({ topic, messages: newer.map((event) => ({ key, value: JSON.stringify(event) })) });

    // Each group dead-letters the 2.0 event after whatever it dead-lettered before it on the partition.
    const dlq = await consumeUntil(world.kafka, [world.names.deadLetter('order-events')], (ms) =>
      ms.filter((m) => m.key === key && JSON.parse(m.value!).event_version === '2.0').length === 2,
    );
    const letters = dlq.filter((m) => m.key === key);
    expect(letters.map((m) => `${JSON.parse(m.value!).event_type} ${JSON.parse(m.value!).event_version}`)).toEqual(['order.failed 2.0', 'order.failed 2.0']);
    expect(letters.map((m) => m.headers[deadLetterHeaders.consumerGroup]).sort()).toEqual(
      [world.names.group('analytics-service-group'), world.names.group('notification-service-group')].sort(),
    );
    expect(letters.every((m) => m.headers[deadLetterHeaders.error]!.includes('unreadable event'))).toBe(true);

    await expect.poll(() => world.prisma.analyticsOrder.findUnique({ where: { orderId: key } }), poll).toMatchObject({ status: 'confirmed', currency: 'EUR' });
    await expect.poll(() => world.prisma.notification.count({ where: { orderId: key, template: 'order_confirmed' } }), poll).toBe(1);
    const handled = await world.prisma.inboxEvent.findMany({ where: { eventId: { in: newer.map((e) => e.event_id) } } });
    expect(handled.map((r) => `${r.consumerGroup} ${r.eventType}`).sort()).toEqual(
      [
        `${world.names.group('analytics-service-group')} order.confirmed`,
        `${world.names.group('analytics-service-group')} order.created`,
        `${world.names.group('notification-service-group')} order.confirmed`,
      ].sort(),
    );
  });
});

describe('publishing the same outbox rows twice (a relay killed between publish and mark)', () => {
  it('has each subscriber’s effect once', async () => {
    const clock = fixedClock('2031-02-03T10:15:00Z');
    const product = await createStockedProduct(world.prisma, { units: [10], price: '20.00' });
    await rebuildProductSearch(world.prisma, () => new Date('2031-02-03T10:00:00Z'), [product.productId]);
    const order = await runSaga({ prisma: world.prisma, clock, payments }, { productId: product.productId, quantity: 3, token: 'tok_visa' });

    const killed = new OutboxRelay({
      prisma: world.prisma,
      producer: {
        ...producer,
        sendBatch: async (batch) => {
          await producer.sendBatch(batch);
          throw new Error('relay killed after publishing, before marking');
        },
      },
      names: world.names,
      log,
      batchSize: 50,
      pollIntervalMs: 100,
    });
    await expect(killed.publishBatch()).rejects.toThrow(/relay killed/);
    expect(await world.prisma.outboxEvent.count({ where: { aggregateId: order.id, publishedAt: null } })).toBe(5);
    await relay.drain();

    const copies = await consumeUntil(world.kafka, [world.names.topic('order-events')], (ms) =>
      ms.filter((m) => m.key === order.id && m.headers['event-type'] === 'order.confirmed').length === 2,
    );
    expect(copies.filter((m) => m.key === order.id && m.headers['event-type'] === 'order.created')).toHaveLength(2);

    await expect.poll(() => world.prisma.notification.count({ where: { orderId: order.id } }), poll).toBe(1);
    await expect.poll(() => stockOf(product.productId), poll).toEqual({ onHand: 7, reserved: 0 });
    await expect
      .poll(() => world.prisma.orderStatsHourly.findMany({ where: { hour: new Date('2031-02-03T10:00:00Z') }, orderBy: { status: 'asc' } }), poll)
      .toHaveLength(2);
    const stats = await world.prisma.orderStatsHourly.findMany({ where: { hour: new Date('2031-02-03T10:00:00Z') }, orderBy: { status: 'asc' } });
    expect(stats.map((s) => [s.status, s.orders, s.revenue.toFixed(2)])).toEqual([
      ['confirmed', 1, '60.00'],
      ['pending', 1, '60.00'],
    ]);
    // notification: order.confirmed; search: inventory.reserved and .committed; analytics: order.created and .confirmed.
    const eventIds = (await world.prisma.outboxEvent.findMany({ where: { aggregateId: order.id } })).map((r) => r.eventId);
    await expect.poll(() => world.prisma.inboxEvent.count({ where: { eventId: { in: eventIds } } }), poll).toBe(5);
    expect(await world.prisma.notification.count({ where: { orderId: order.id } })).toBe(1);
    expect(await stockOf(product.productId)).toEqual({ onHand: 7, reserved: 0 });
  });
});

describe('GET /api/v1/search', () => {
  it('finds products by words, with the stock the inventory events left', async () => {
    const word = `zephyr${Date.now().toString(36)}`;
    const product = await createStockedProduct(world.prisma, { units: [6, 4], price: '15.00' });
    await world.prisma.product.update({ where: { id: product.productId }, data: { name: `The ${word} lantern`, description: 'Bright and light' } });
    await rebuildProductSearch(world.prisma, systemClock, [product.productId]);

    const search = async (q: string) => (await api.app.inject({ method: 'GET', url: `/api/v1/search?q=${encodeURIComponent(q)}` })).json();
    expect((await search(word)).data).toEqual([
      expect.objectContaining({ id: product.productId, name: `The ${word} lantern`, price: 15, currency: 'USD', in_stock: true, available: 10 }),
    ]);

    await runSaga({ prisma: world.prisma, clock: systemClock, payments }, { productId: product.productId, quantity: 3, token: 'tok_visa' });
    await runSaga({ prisma: world.prisma, clock: systemClock, payments }, { productId: product.productId, quantity: 2, token: 'tok_chargeDeclined' });
    await relay.drain();

    await expect.poll(() => stockOf(product.productId), poll).toEqual({ onHand: 7, reserved: 0 });
    const found = await search(`${word} lantern`);
    expect(found).toMatchObject({ query: `${word} lantern`, data: [{ id: product.productId, available: 7, in_stock: true }] });
    expect((await search(`${word} -lantern`)).data).toEqual([]);

    const bad = await api.app.inject({ method: 'GET', url: '/api/v1/search?q=' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
  });
});

describe('GET /api/v1/admin/stats', () => {
  it('shows an order’s statuses and revenue per hour to an admin, and 403 to anyone else', async () => {
    const clock = fixedClock('2031-05-06T07:08:09Z');
    const product = await createStockedProduct(world.prisma, { units: [10], price: '19.99' });
    await runSaga({ prisma: world.prisma, clock, payments }, { productId: product.productId, quantity: 2, token: 'tok_visa' });
    clock.advance(60 * 60 * 1000);
    await runSaga({ prisma: world.prisma, clock, payments }, { productId: product.productId, quantity: 1, token: 'tok_insufficientFunds' });
    await relay.drain();

    const url = '/api/v1/admin/stats?from=2031-05-06T07:00:00Z&to=2031-05-06T09:00:00Z';
    const read = async () => (await api.app.inject({ method: 'GET', url, headers: { authorization: await adminToken(['admin']) } })).json();
    await expect.poll(async () => (await read()).hours?.length, poll).toBe(4);
    const res = await api.app.inject({ method: 'GET', url, headers: { authorization: await adminToken(['admin']) } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      from: '2031-05-06T07:00:00.000Z',
      to: '2031-05-06T09:00:00.000Z',
      hours: [
        { hour: '2031-05-06T07:00:00.000Z', status: 'confirmed', currency: 'USD', orders: 1, revenue: 39.98 },
        { hour: '2031-05-06T07:00:00.000Z', status: 'pending', currency: 'USD', orders: 1, revenue: 39.98 },
        { hour: '2031-05-06T08:00:00.000Z', status: 'failed', currency: 'USD', orders: 1, revenue: 19.99 },
        { hour: '2031-05-06T08:00:00.000Z', status: 'pending', currency: 'USD', orders: 1, revenue: 19.99 },
      ],
      totals: [
        { status: 'confirmed', currency: 'USD', orders: 1, revenue: 39.98 },
        { status: 'pending', currency: 'USD', orders: 2, revenue: 59.97 },
        { status: 'failed', currency: 'USD', orders: 1, revenue: 19.99 },
      ],
    });

    const forbidden = await api.app.inject({ method: 'GET', url, headers: { authorization: await adminToken([]) } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers['content-type']).toContain('application/problem+json');
    expect(forbidden.json()).toMatchObject({ status: 403, type: 'urn:order-saga:problem:forbidden' });
    expect((await api.app.inject({ method: 'GET', url })).statusCode).toBe(401);
  });
});
