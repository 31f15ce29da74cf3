import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { testConfig, uniqueName, withDatabaseClient } from '../test/support/env.js';
import { newUser, orderBody, seedProduct, startApi, startTcpProxy, terminateSagas, type TestApi } from '../test/support/api.js';
import { startTestOrderWorker } from '../test/support/worker.js';

const config = testConfig();
const started: string[] = [];
const apis: TestApi[] = [];

afterAll(async () => {
  if (apis[0]) await terminateSagas(apis[0].temporal, started);
  await Promise.all(apis.map((a) => a.close()));
});

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await work();
  return { result, ms: performance.now() - start };
}

describe('Temporal down', () => {
  it('answers POST /orders with 503 and Retry-After within a second, writes nothing, and succeeds again once it is back', async () => {
    const proxy = await startTcpProxy({ host: config.temporal.host, port: config.temporal.port });
    const api = await startApi({ temporalAddress: proxy.address, api: { ...config.api, breaker: { failureThreshold: 2, resetMs: 1_000 } } });
    apis.push(api);
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const submit = (key: string) =>
      api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, 'idempotency-key': key }, payload: orderBody(productId) });

    const before = await submit(randomUUID());
    expect(before.statusCode).toBe(202);
    started.push(before.json().workflow_id);

    await proxy.stop();
    const key = randomUUID();
    const down = await timed(() => submit(key));
    expect(down.result.statusCode).toBe(503);
    expect(down.ms).toBeLessThan(1_000);
    expect(Number(down.result.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(down.result.json()).toMatchObject({ status: 503, type: 'urn:order-saga:problem:dependency-unavailable', detail: expect.stringMatching(/Temporal/) });

    // The second failure opens the circuit; from then on the answer comes without trying.
    expect((await submit(key)).statusCode).toBe(503);
    const open = await timed(() => submit(key));
    expect(open.result.statusCode).toBe(503);
    expect(open.result.json().detail).toMatch(/circuit open/);
    expect(open.ms).toBeLessThan(100);
    expect(await api.prisma.order.count({ where: { userId } })).toBe(1);
    expect(await api.prisma.idempotencyRecord.count({ where: { userId, key } })).toBe(0);

    const health = await api.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({ status: 'unhealthy', checks: { database: 'ok', eventBus: 'ok', temporal: 'error' } });

    await proxy.start();
    await expect
      .poll(async () => (await submit(key)).statusCode, { timeout: 10_000, interval: 250 })
      .toBe(202);
    const placed = await submit(key);
    expect(placed.headers['idempotent-replayed']).toBe('true');
    started.push(placed.json().workflow_id);
    expect(await api.prisma.order.count({ where: { userId } })).toBe(2);
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});

describe('PostgreSQL down', () => {
  it('answers 503 with Retry-After at once instead of hanging, and recovers by itself', async () => {
    const proxy = await startTcpProxy({ host: config.postgres.host, port: config.postgres.port });
    const url = new URL(config.postgres.url);
    url.host = proxy.address;
    const api = await startApi({ databaseUrl: url.toString(), api: { ...config.api, breaker: { failureThreshold: 1, resetMs: 1_000 } } });
    apis.push(api);
    const { productId } = await seedProduct(api.prisma);
    const product = () => api.app.inject({ method: 'GET', url: `/api/v1/products/${productId}` });
    expect((await product()).statusCode).toBe(200);

    await proxy.stop();
    const down = await timed(product);
    expect(down.result.statusCode).toBe(503);
    expect(down.ms).toBeLessThan(config.api.dependencyTimeoutMs + 500);
    expect(down.result.headers['retry-after']).toBeDefined();
    const open = await timed(product);
    expect(open.result.statusCode).toBe(503);
    expect(open.ms).toBeLessThan(100);
    expect((await api.app.inject({ method: 'GET', url: '/health' })).json().checks.database).toBe('error');

    await proxy.start();
    await expect.poll(async () => (await product()).statusCode, { timeout: 10_000, interval: 250 }).toBe(200);
  });
});

describe('an order write that outlasts the API’s patience', () => {
  it('is rolled back, not committed after the API answered 503', async () => {
    const api = await startApi({ api: { ...config.api, dependencyTimeoutMs: 1_000 } });
    apis.push(api);
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();

    const answer = await withDatabaseClient(async (holder) => {
      // Another transaction holds the product's row: the order's item, a foreign key to it, waits.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [productId]);
      const answer = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, 'idempotency-key': key }, payload: orderBody(productId) });
      await holder.query('COMMIT');
      // Waits until the API's transaction has ended, whichever way it ended.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE orders IN SHARE MODE');
      await holder.query('COMMIT');
      return answer;
    });

    expect(answer.statusCode).toBe(503);
    expect(await api.prisma.order.count({ where: { userId } })).toBe(0);
    expect(await api.prisma.idempotencyRecord.count({ where: { userId, key } })).toBe(0);
  });
});

describe('a saga that surely was not started after the order was written', () => {
  it.each([
    ['the client refuses the start (no task queue)', { taskQueue: '' }],
    ['the server refuses the start (an unknown namespace)', { namespace: 'no-such-namespace' }],
  ])('fails the order through its state machine and frees the key when %s: 503, nothing left pending', async (_, options) => {
    // Temporal answers the availability check, but the start is refused before it is made.
    const api = await startApi(options);
    apis.push(api);
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, 'idempotency-key': key }, payload: orderBody(productId) });

    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    const orders = await api.prisma.order.findMany({ where: { userId }, include: { timeline: true } });
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ status: 'failed', failureReason: 'saga_not_started' });
    expect(orders[0]!.timeline.map((t) => t.status)).toEqual(['pending', 'failed']);
    const events = await api.prisma.outboxEvent.findMany({ where: { aggregateId: orders[0]!.id }, orderBy: { id: 'asc' } });
    expect(events.map((e) => e.eventType)).toEqual(['order.created', 'order.failed']);
    expect(await api.prisma.idempotencyRecord.count({ where: { userId, key } })).toBe(0);
  });
});

describe('a saga start whose reply was lost', () => {
  it('leaves the order to the retry with the same Idempotency-Key: one order, one saga, one charge', async () => {
    const taskQueue = uniqueName('lost-start-reply');
    const proxy = await startTcpProxy({ host: config.temporal.host, port: config.temporal.port });
    const api = await startApi({ temporalAddress: proxy.address, taskQueue, api: { ...config.api, dependencyTimeoutMs: 1_000 } });
    apis.push(api);
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const submit = () =>
      api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, 'idempotency-key': key }, payload: orderBody(productId) });

    // Temporal starts the saga (the request names the task queue), but its answer never comes back.
    proxy.loseRepliesAfter(taskQueue);
    const lost = await submit();
    expect(lost.statusCode).toBe(503);

    // The network heals; the client retries with the same key.
    await proxy.stop();
    await proxy.start();
    await expect.poll(async () => (await submit()).statusCode, { timeout: 10_000, interval: 250 }).toBe(202);
    const orders = await api.prisma.order.findMany({ where: { userId } });
    expect(orders).toHaveLength(1);
    const orderId = orders[0]!.id;
    expect((await submit()).json()).toMatchObject({ order_id: orderId });

    // A worker picks the saga up: the order is confirmed, charged once.
    const provider = new FakePaymentProvider();
    const worker = await startTestOrderWorker({ config: api.config, taskQueue, db: api.prisma, payments: provider });
    try {
      await expect
        .poll(async () => (await api.prisma.order.findUniqueOrThrow({ where: { id: orderId } })).status, { timeout: 20_000, interval: 200 })
        .toBe('confirmed');
    } finally {
      await worker.stop();
    }
    expect((await api.temporal.workflow.count(`CustomerId = "${userId}"`)).count).toBe(1);
    expect(provider.chargeCount(orderId)).toBe(1);
    expect(await api.prisma.payment.count({ where: { order: { userId } } })).toBe(1);
  });
});
