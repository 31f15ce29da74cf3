// First: node-postgres is instrumented as it is loaded, as in every process's entry point.
import './instrumentations.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, orderBody, seedProduct, startApi, type TestApi } from '../test/support/api.js';
import { systemClock } from '../domain/clock.js';
import { HttpPaymentProvider } from '../domain/payments/http-provider.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createFakeProviderServer } from '../fake-payment-provider/server.js';
import { startSubscriber, type RunningSubscriber } from '../events/consumer.js';
import { createIdempotentProducer, type IdempotentProducer } from '../events/kafka.js';
import { OutboxRelay } from '../events/relay/relay.js';
import { fileMailer } from '../events/subscribers/mailer.js';
import { createNotificationSubscriber } from '../events/subscribers/notification.js';
import { fastRetry, memoryLogger, startEventsWorld, type EventsWorld } from '../test/support/events.js';
import { uniqueName } from '../test/support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../test/support/worker.js';
import { initTelemetry, type Telemetry } from './index.js';

// The whole system in this process, traced into memory: the API, an order worker calling the fake
// payment provider over HTTP, the outbox relay and the notification subscriber, against the real
// Temporal server, Kafka and PostgreSQL (a database of this file's own, since the relay publishes
// every row it finds).
const exporter = new InMemorySpanExporter();
const taskQueue = uniqueName('trace');
let telemetry: Telemetry;
let world: EventsWorld;
let api: TestApi;
let worker: RunningTestWorker;
let producer: IdempotentProducer;
let relay: OutboxRelay;
let subscriber: RunningSubscriber;
let mailDir: string;
let provider: ReturnType<typeof createFakeProviderServer>;

beforeAll(async () => {
  world = await startEventsWorld();
  const { config, kafka, names } = world;
  telemetry = initTelemetry(config, { serviceName: 'order-saga-test', exporter });
  api = await startApi({ taskQueue, databaseUrl: config.postgres.url });
  provider = createFakeProviderServer({ provider: new FakePaymentProvider(), webhook: { url: `${api.config.api.url}/api/v1/payments/webhook`, secret: api.config.paymentWebhook.secret } });
  const providerUrl = await provider.listen({ host: '127.0.0.1', port: 0 });
  worker = await startTestOrderWorker({ config, taskQueue, db: api.prisma, payments: new HttpPaymentProvider(providerUrl), telemetry });

  producer = createIdempotentProducer(kafka);
  await producer.connect();
  const log = memoryLogger();
  relay = new OutboxRelay({ prisma: world.prisma, producer, names, log, batchSize: 100, pollIntervalMs: 200 });
  mailDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trace-mail-'));
  subscriber = await startSubscriber(
    { kafka, prisma: world.prisma, names, producer, retry: fastRetry, log },
    createNotificationSubscriber({ mailer: fileMailer(mailDir, 'orders@example.com'), clock: systemClock, recipientDomain: 'example.com' }),
  );
});

afterAll(async () => {
  await subscriber?.stop();
  await producer?.disconnect();
  await worker?.stop();
  await provider?.close();
  await api?.close();
  await world?.close();
  await telemetry?.shutdown();
  if (mailDir) fs.rmSync(mailDir, { recursive: true, force: true });
});

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

const databaseScopes = new Set(['@opentelemetry/instrumentation-pg', 'prisma']);

/** The span whose work a span is: itself, or for SQL and Prisma's spans the nearest span above them that is neither. */
function ownerOf(spans: ReadableSpan[], spanId: string | undefined): ReadableSpan | undefined {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  let span = spanId ? byId.get(spanId) : undefined;
  while (span && databaseScopes.has(span.instrumentationScope.name)) span = byId.get(parentOf(span) ?? '');
  return span;
}

/** The trace and parent span a W3C `traceparent` names. */
function traceparentIds(header: unknown): { traceId: string; spanId: string } {
  const match = typeof header === 'string' ? /^00-([\da-f]{32})-([\da-f]{16})-01$/.exec(header) : null;
  if (!match) throw new Error(`not a sampled W3C traceparent: ${String(header)}`);
  return { traceId: match[1]!, spanId: match[2]! };
}

async function placeOrder(headers: Record<string, string> = {}) {
  const user = await newUser(api.config);
  const { productId } = await seedProduct(api.prisma, { price: '20.00', stock: 10 });
  const res = await api.app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: { authorization: user.authorization, ...headers },
    payload: orderBody(productId, { token: 'tok_visa' }),
  });
  expect(res.statusCode).toBe(202);
  const orderId: string = res.json().order_id;
  const { traceId } = await api.prisma.order.findUniqueOrThrow({ where: { id: orderId } });
  return { orderId, traceId };
}

describe('one trace per order', () => {
  it('links the API request, the workflow, its activities, the relay publish and the subscriber, and is the events’ trace_id', async () => {
    const { orderId, traceId } = await placeOrder();

    // The request span is the root of the order's trace, and its trace id is the order's.
    const [request] = named(spansOf(traceId), 'POST /api/v1/orders');
    expect(request).toMatchObject({ kind: SpanKind.SERVER, attributes: { 'http.route': '/api/v1/orders', 'http.response.status_code': 202 } });
    expect(parentOf(request!)).toBeUndefined();

    await expect.poll(async () => (await api.prisma.order.findUniqueOrThrow({ where: { id: orderId } })).status, { timeout: 30_000, interval: 200 }).toBe('confirmed');
    await expect.poll(() => named(spansOf(traceId), 'RunWorkflow:OrderSaga').length, { timeout: 30_000, interval: 200 }).toBe(1);

    // The saga: started from the request, run in the worker, each activity a child of its scheduling.
    const saga = spansOf(traceId);
    const [start] = named(saga, 'StartWorkflow:OrderSaga');
    const [run] = named(saga, 'RunWorkflow:OrderSaga');
    expect(parentOf(start!)).toBe(request!.spanContext().spanId);
    expect(parentOf(run!)).toBe(start!.spanContext().spanId);
    expect(run!.attributes).toMatchObject({ temporalWorkflowId: `order-${orderId}` });
    const activitySpans = new Map<string, ReadableSpan>();
    for (const activity of ['reserveInventory', 'chargePayment', 'confirmOrder']) {
      const [scheduled] = named(saga, `StartActivity:${activity}`);
      const [ran] = named(saga, `RunActivity:${activity}`);
      expect(parentOf(scheduled!)).toBe(run!.spanContext().spanId);
      expect(parentOf(ran!)).toBe(scheduled!.spanContext().spanId);
      activitySpans.set(ran!.spanContext().spanId, ran!);
    }

    // The outbox: every event carries the trace id, and the traceparent of the span that recorded it.
    const rows = await api.prisma.outboxEvent.findMany({ where: { aggregateId: orderId }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => r.eventType)).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed']);
    const recordedBy = new Map<string, string>();
    for (const row of rows) {
      expect((row.payload as { metadata: { trace_id: string } }).metadata.trace_id).toBe(traceId);
      const parent = traceparentIds((row.headers as Record<string, unknown>).traceparent);
      expect(parent.traceId).toBe(traceId);
      recordedBy.set(row.eventId, parent.spanId);
    }
    // The request's SQL recorded order.created; each activity's, the events of its step.
    expect(ownerOf(spansOf(traceId), recordedBy.get(rows[0]!.eventId))).toBe(request);
    for (const row of rows.slice(1)) expect(activitySpans.has(ownerOf(spansOf(traceId), recordedBy.get(row.eventId))!.spanContext().spanId)).toBe(true);

    // The relay publishes each event as a child of the span that recorded it...
    await relay.drain();
    const publishes = named(spansOf(traceId), `${world.names.topic('order-events')} publish`).concat(
      named(spansOf(traceId), `${world.names.topic('inventory-events')} publish`),
      named(spansOf(traceId), `${world.names.topic('payment-events')} publish`),
    );
    expect(publishes.map((s) => s.attributes['messaging.message.id']).sort()).toEqual(rows.map((r) => r.eventId).sort());
    for (const publish of publishes) {
      expect(publish.kind).toBe(SpanKind.PRODUCER);
      expect(parentOf(publish)).toBe(recordedBy.get(publish.attributes['messaging.message.id'] as string));
    }

    // ...and the subscriber handles it as a child of the publish, carrying the trace on.
    const confirmedId = rows.at(-1)!.eventId;
    const confirmedPublish = publishes.find((s) => s.attributes['messaging.message.id'] === confirmedId)!;
    await expect
      .poll(() => spansOf(traceId).some((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === confirmedId), { timeout: 30_000, interval: 200 })
      .toBe(true);
    const consumed = spansOf(traceId).find((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === confirmedId)!;
    expect(consumed).toMatchObject({ name: `${world.names.topic('order-events')} process`, attributes: { 'messaging.consumer.group.name': world.names.group('notification-service-group') } });
    expect(parentOf(consumed)).toBe(confirmedPublish.spanContext().spanId);

    const sent = await api.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: orderId, eventType: 'notification.sent' } });
    expect((sent.payload as { metadata: { trace_id: string } }).metadata.trace_id).toBe(traceId);
    const sentBy = traceparentIds((sent.headers as Record<string, unknown>).traceparent);
    expect(sentBy.traceId).toBe(traceId);
    expect(ownerOf(spansOf(traceId), sentBy.spanId)).toBe(consumed);
  });

  it('holds the SQL and the payment provider’s call, each where it ran', async () => {
    const { orderId, traceId } = await placeOrder();
    await expect.poll(async () => (await api.prisma.order.findUniqueOrThrow({ where: { id: orderId } })).status, { timeout: 30_000, interval: 200 }).toBe('confirmed');
    await expect.poll(() => named(spansOf(traceId), 'RunWorkflow:OrderSaga').length, { timeout: 30_000, interval: 200 }).toBe(1);
    const spans = spansOf(traceId);
    const [request] = named(spans, 'POST /api/v1/orders');
    const [reserve] = named(spans, 'RunActivity:reserveInventory');
    const [charge] = named(spans, 'RunActivity:chargePayment');

    // Every statement, with its text, from node-postgres.
    const sql = spans.filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-pg' && s.kind === SpanKind.CLIENT);
    const statements = (text: RegExp, by: ReadableSpan) =>
      sql.filter((s) => text.test(String(s.attributes['db.query.text'])) && ownerOf(spans, s.spanContext().spanId) === by);
    expect(statements(/INSERT INTO orders/, request!)).toHaveLength(1);
    expect(statements(/INSERT INTO outbox/, request!)).toHaveLength(1);
    expect(statements(/UPDATE stock s SET reserved/, reserve!).length).toBeGreaterThan(0);
    expect(statements(/INSERT INTO outbox/, reserve!)).toHaveLength(1);
    expect(sql[0]!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': new URL(world.config.postgres.url).pathname.slice(1) });
    // Its transactions, each on one connection of the pool.
    expect(statements(/^COMMIT/, reserve!).length).toBeGreaterThan(0);

    // The charge: an HTTP client span (undici) inside the activity, answered 200 by the provider.
    const providerCalls = spans.filter((s) => s.kind === SpanKind.CLIENT && s.instrumentationScope.name === '@opentelemetry/instrumentation-undici');
    const [chargeCall] = providerCalls.filter((s) => s.attributes['url.path'] === '/v1/charges');
    expect(chargeCall).toMatchObject({ name: 'POST', attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 } });
    expect(ownerOf(spans, parentOf(chargeCall!))).toBe(charge);
  });

  it('continues the caller’s trace when the request comes with a traceparent', async () => {
    const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const { orderId, traceId } = await placeOrder({ traceparent: `00-${caller.traceId}-${caller.spanId}-01` });

    expect(traceId).toBe(caller.traceId);
    const [request] = named(spansOf(caller.traceId), 'POST /api/v1/orders');
    expect(parentOf(request!)).toBe(caller.spanId);
    await expect.poll(() => named(spansOf(caller.traceId), 'RunWorkflow:OrderSaga').length, { timeout: 30_000, interval: 200 }).toBe(1);
    const created = await api.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: orderId, eventType: 'order.created' } });
    const recordedBy = traceparentIds((created.headers as Record<string, unknown>).traceparent);
    expect(recordedBy.traceId).toBe(caller.traceId);
    expect(ownerOf(spansOf(caller.traceId), recordedBy.spanId)).toBe(request);
  });
});
