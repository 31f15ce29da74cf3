import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../domain/clock.js';
import { claimIdempotencyKey, requestHash } from '../domain/idempotency.js';
import { createOrder } from '../domain/orders.js';
import { orderWorkflowId } from '../workflows/definitions.js';
import { newUser, orderBody, sagaInput, seedProduct, shippingAddress, startApi, terminateSagas, type TestApi } from '../test/support/api.js';

let api: TestApi;
const started: string[] = [];

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  if (api) await terminateSagas(api.temporal, started);
  await api?.close();
});

async function submit(authorization: string, payload: unknown, headers: Record<string, string> = {}) {
  const res = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, ...headers }, payload: payload as object });
  if (res.statusCode === 202) started.push(res.json().workflow_id);
  return res;
}

async function writesFor(userId: string) {
  const [orders, outbox, keys] = await Promise.all([
    api.prisma.order.count({ where: { userId } }),
    api.prisma.outboxEvent.count({ where: { payload: { path: ['metadata', 'user_id'], equals: userId } } }),
    api.prisma.idempotencyRecord.count({ where: { userId } }),
  ]);
  return { orders, outbox, keys };
}

describe('POST /api/v1/orders', () => {
  it('writes the pending order with order.created and starts its saga with the request correlation id: 202 + Location', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma, { price: '29.99' });
    const res = await submit(authorization, orderBody(productId, { quantity: 2 }), { 'x-request-id': 'corr-submit-1' });

    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toEqual({
      order_id: expect.any(String),
      order_number: expect.stringMatching(/^ORD-\d{4}-\d{5,}$/),
      status: 'pending',
      workflow_id: orderWorkflowId(body.order_id),
    });
    expect(res.headers.location).toBe(`/api/v1/orders/${body.order_id}`);

    const order = await api.prisma.order.findUniqueOrThrow({ where: { id: body.order_id } });
    expect(order).toMatchObject({ userId, status: 'pending', currency: 'USD', correlationId: 'corr-submit-1' });
    expect(order.total.toString()).toBe('59.98');
    const created = await api.prisma.outboxEvent.findFirstOrThrow({ where: { aggregateId: body.order_id, eventType: 'order.created' } });
    expect(created.payload).toMatchObject({ correlation_id: 'corr-submit-1', data: { order_id: body.order_id, total: 59.98 } });

    const input = await sagaInput(api.temporal, body.workflow_id);
    expect(input).toMatchObject({ orderId: body.order_id, userId, correlationId: 'corr-submit-1', orderTotal: 59.98, payment: { method: 'card', token: 'tok_visa' } });
    const description = await api.temporal.workflow.getHandle(body.workflow_id).describe();
    expect(description.type).toBe('OrderSaga');
  });

  it('carries a W3C traceparent trace id onto the order and into the saga', async () => {
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await submit(authorization, orderBody(productId), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect((await api.prisma.order.findUniqueOrThrow({ where: { id: res.json().order_id } })).traceId).toBe(traceId);
    expect((await sagaInput(api.temporal, res.json().workflow_id)).traceId).toBe(traceId);
  });

  it('orders what is in the cart with from_cart, and empties the cart', async () => {
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma, { price: '10.00' });
    await api.app.inject({ method: 'POST', url: '/api/v1/cart/items', headers: { authorization }, payload: { product_id: productId, quantity: 3 } });

    const res = await submit(authorization, { from_cart: true, shipping_address: shippingAddress, payment: { method: 'card', token: 'tok_visa' } });
    expect(res.statusCode).toBe(202);
    const order = (await api.app.inject({ method: 'GET', url: res.headers.location as string, headers: { authorization } })).json();
    expect(order).toMatchObject({ total: 30, items: [expect.objectContaining({ product_id: productId, quantity: 3 })] });
    const cart = (await api.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization } })).json();
    expect(cart.items).toEqual([]);

    const empty = await submit(authorization, { from_cart: true, shipping_address: shippingAddress, payment: { method: 'card', token: 'tok_visa' } });
    expect(empty.statusCode).toBe(409);
    expect(empty.json()).toMatchObject({ type: 'urn:order-saga:problem:conflict', detail: expect.stringMatching(/cart is empty/) });
  });
});

describe('Idempotency-Key', () => {
  it('answers a repeat with the same key and body with the first response, creating nothing more', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const first = await submit(authorization, orderBody(productId), { 'idempotency-key': key });
    const again = await submit(authorization, orderBody(productId), { 'idempotency-key': key });

    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await writesFor(userId)).toEqual({ orders: 1, outbox: 1, keys: 1 });
  });

  it('treats the same JSON in another key order as the same body', async () => {
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const body = orderBody(productId);
    const reordered = { payment: body.payment, shipping_address: body.shipping_address, items: body.items };
    const first = await submit(authorization, body, { 'idempotency-key': key });
    const again = await submit(authorization, reordered, { 'idempotency-key': key });
    expect(again.json()).toEqual(first.json());
  });

  it('refuses the same key with another body: 422, nothing written', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    await submit(authorization, orderBody(productId, { quantity: 1 }), { 'idempotency-key': key });
    const changed = await submit(authorization, orderBody(productId, { quantity: 5 }), { 'idempotency-key': key });
    expect(changed.statusCode).toBe(422);
    expect(changed.json()).toMatchObject({ status: 422, type: 'urn:order-saga:problem:idempotency-key-reused' });
    expect(await writesFor(userId)).toEqual({ orders: 1, outbox: 1, keys: 1 });
  });

  it('keeps keys per user: another user may use the same key', async () => {
    const alice = await newUser(api.config);
    const bob = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const a = await submit(alice.authorization, orderBody(productId), { 'idempotency-key': key });
    const b = await submit(bob.authorization, orderBody(productId, { quantity: 7 }), { 'idempotency-key': key });
    expect(b.statusCode).toBe(202);
    expect(b.json().order_id).not.toBe(a.json().order_id);
  });

  it('makes one order and one saga of 20 concurrent identical requests, all answered alike', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const responses = await Promise.all(Array.from({ length: 20 }, () => submit(authorization, orderBody(productId), { 'idempotency-key': key })));

    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(202));
    const bodies = new Set(responses.map((r) => r.body));
    expect(bodies.size).toBe(1);
    expect(await writesFor(userId)).toEqual({ orders: 1, outbox: 1, keys: 1 });
    const { workflow_id } = responses[0]!.json();
    await expect.poll(async () => (await api.temporal.workflow.count(`CustomerId = "${userId}"`)).count, { timeout: 5_000 }).toBe(1);
    expect((await api.temporal.workflow.getHandle(workflow_id).describe()).status.name).toBe('RUNNING');
  });

  it('finishes the work of a request that died after writing its order: a repeat starts the saga of that same order', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const key = randomUUID();
    const body = orderBody(productId);
    // What a crashed process leaves: the order and the key's claim committed, no saga, no answer.
    const orderId = randomUUID();
    await api.prisma.$transaction(async (tx) => {
      await claimIdempotencyKey(tx, { userId, key, requestHash: requestHash(body), resourceId: orderId });
      await createOrder(
        { db: tx, clock: systemClock },
        { id: orderId, userId, items: [{ productId, quantity: 1 }], shippingAddress, payment: { method: 'card', token: body.payment.token }, correlationId: 'corr-crashed' },
      );
    });
    await api.prisma.idempotencyRecord.update({
      where: { userId_key: { userId, key } },
      data: { createdAt: new Date(Date.now() - api.config.api.idempotencyAbandonedAfterMs - 1_000) },
    });

    const retry = await submit(authorization, body, { 'idempotency-key': key });

    expect(retry.statusCode).toBe(202);
    expect(retry.json()).toMatchObject({ order_id: orderId, status: 'pending', workflow_id: orderWorkflowId(orderId) });
    expect(await writesFor(userId)).toEqual({ orders: 1, outbox: 1, keys: 1 });
    const description = await api.temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
    expect(description.status.name).toBe('RUNNING');
    const again = await submit(authorization, body, { 'idempotency-key': key });
    expect(again.body).toBe(retry.body);
  });
});

describe('bad input', () => {
  const cases: [string, (productId: string) => unknown, number, RegExp][] = [
    ['wrong types', (p) => ({ ...orderBody(p), items: [{ product_id: p, quantity: 'two' }] }), 400, /quantity/],
    ['quantity 0', (p) => orderBody(p, { quantity: 0 }), 400, /quantity/],
    ['an absurd quantity', (p) => orderBody(p, { quantity: 101 }), 400, /quantity/],
    ['a fractional quantity', (p) => orderBody(p, { quantity: 1.5 }), 400, /quantity/],
    ['empty items', (p) => ({ ...orderBody(p), items: [] }), 400, /items/],
    ['neither items nor from_cart', (p) => ({ ...orderBody(p), items: undefined }), 400, /either items or from_cart/],
    ['both items and from_cart', (p) => ({ ...orderBody(p), from_cart: true }), 400, /either items or from_cart/],
    ['from_cart: false', (p) => ({ ...orderBody(p), items: undefined, from_cart: false }), 400, /from_cart/],
    ['an unknown field', (p) => ({ ...orderBody(p), discount: 100 }), 400, /discount/],
    ['an unknown field in an item', (p) => ({ ...orderBody(p), items: [{ product_id: p, quantity: 1, price: 0 }] }), 400, /price/],
    ['a payment method other than card', (p) => ({ ...orderBody(p), payment: { method: 'cash', token: 'x' } }), 400, /method/],
    ['a shipping address without a city', (p) => ({ ...orderBody(p), shipping_address: { ...shippingAddress, city: undefined } }), 400, /city/],
    ['a product id that is not a uuid', () => orderBody('abc'), 400, /product_id/],
    ['an unknown product', () => orderBody('00000000-0000-4000-8000-000000000000'), 404, /product 00000000-0000-4000-8000-000000000000 not found/],
  ];

  it.each(cases)('answers %s with a problem that says what is wrong, writing nothing and starting no saga', async (_, payload, status, detail) => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const res = await submit(authorization, payload(productId), { 'idempotency-key': randomUUID() });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status, title: expect.any(String), type: expect.stringMatching(/^urn:order-saga:problem:/), instance: '/api/v1/orders' });
    expect(res.json().detail).toMatch(detail);
    expect(await writesFor(userId)).toEqual({ orders: 0, outbox: 0, keys: 0 });
    expect((await api.temporal.workflow.count(`CustomerId = "${userId}"`)).count).toBe(0);
  });

  it('answers items priced in different currencies with 409, a conflict with the catalog, writing nothing', async () => {
    const { userId, authorization } = await newUser(api.config);
    const dollars = await seedProduct(api.prisma, { currency: 'USD' });
    const euros = await seedProduct(api.prisma, { currency: 'EUR' });
    const body = { ...orderBody(dollars.productId), items: [dollars, euros].map((p) => ({ product_id: p.productId, quantity: 1 })) };
    const res = await submit(authorization, body);
    expect(res.statusCode).toBe(409);
    expect(res.json().detail).toMatch(/different currencies/);
    expect(await writesFor(userId)).toEqual({ orders: 0, outbox: 0, keys: 0 });
  });

  it('is documented as it is validated: one of items or from_cart, never both nor neither (oneOf)', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const submitOrder = doc.components.schemas.SubmitOrder as { oneOf?: { required: string[]; additionalProperties: boolean }[] };
    const shapes = (submitOrder.oneOf ?? []).map((shape) => ({
      chooses: shape.required.filter((key) => key === 'items' || key === 'from_cart'),
      closed: shape.additionalProperties === false,
    }));
    expect(shapes).toEqual([
      { chooses: ['items'], closed: true },
      { chooses: ['from_cart'], closed: true },
    ]);
  });

  it('lists each invalid field in errors, with where it is', async () => {
    const { authorization } = await newUser(api.config);
    const res = await submit(authorization, { items: [{ product_id: 'x', quantity: -1 }], shipping_address: {}, payment: { method: 'card' } });
    expect(res.statusCode).toBe(400);
    const pointers = res.json().errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/items/0/product_id', '/items/0/quantity', '/shipping_address/city', '/payment/token']));
    expect(res.json().errors[0].in).toBe('body');
  });

  it('answers an oversized body with 413 and invalid JSON with 400, writing nothing', async () => {
    const { userId, authorization } = await newUser(api.config);
    const headers = { authorization, 'content-type': 'application/json' };
    const big = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers, payload: JSON.stringify({ note: 'x'.repeat(200_000) }) });
    expect(big.statusCode).toBe(413);
    const broken = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers, payload: '{"items": [' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().type).toBe('urn:order-saga:problem:invalid-json');
    expect(await writesFor(userId)).toEqual({ orders: 0, outbox: 0, keys: 0 });
  });
});

describe('reading orders', () => {
  it('shows an order to its owner (status, items, total, timeline) and 404 to anyone else', async () => {
    const alice = await newUser(api.config);
    const mallory = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma, { price: '12.50' });
    const { order_id } = (await submit(alice.authorization, orderBody(productId, { quantity: 2 }))).json();

    const mine = await api.app.inject({ method: 'GET', url: `/api/v1/orders/${order_id}`, headers: { authorization: alice.authorization } });
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toMatchObject({
      order_id,
      status: 'pending',
      total: 25,
      currency: 'USD',
      failure_reason: null,
      payment: null,
      items: [{ product_id: productId, quantity: 2, unit_price: 12.5, line_total: 25 }],
      timeline: [{ status: 'pending', from_status: null, at: expect.any(String) }],
      shipping_address: shippingAddress,
    });

    const theirs = await api.app.inject({ method: 'GET', url: `/api/v1/orders/${order_id}`, headers: { authorization: mallory.authorization } });
    expect(theirs.statusCode).toBe(404);
    const cancel = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order_id}/cancel`, headers: { authorization: mallory.authorization } });
    expect(cancel.statusCode).toBe(404);
    const list = await api.app.inject({ method: 'GET', url: '/api/v1/orders', headers: { authorization: mallory.authorization } });
    expect(list.json().data).toEqual([]);
  });

  it('lists the caller orders newest first, a page at a time', async () => {
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await submit(authorization, orderBody(productId, { quantity: i + 1 }))).json().order_id);

    const page1 = (await api.app.inject({ method: 'GET', url: '/api/v1/orders?limit=2', headers: { authorization } })).json();
    expect(page1.data.map((o: { order_id: string }) => o.order_id)).toEqual([ids[2], ids[1]]);
    expect(page1.next_cursor).toBe(ids[1]);
    const page2 = (await api.app.inject({ method: 'GET', url: `/api/v1/orders?limit=2&cursor=${page1.next_cursor}`, headers: { authorization } })).json();
    expect(page2.data.map((o: { order_id: string }) => o.order_id)).toEqual([ids[0]]);
    expect(page2.next_cursor).toBeNull();
  });
});

describe('POST /api/v1/orders/{id}/cancel', () => {
  it('answers 503 when the saga does not answer in time, and the order stays as it was', async () => {
    // No worker polls this API's task queue: the saga can neither accept the cancel nor refuse it.
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const { order_id } = (await submit(authorization, orderBody(productId))).json();
    const res = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order_id}/cancel`, headers: { authorization } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toEqual(expect.any(String));
    expect((await api.prisma.order.findUniqueOrThrow({ where: { id: order_id } })).status).toBe('pending');
  });

  it('answers 409 once the order is no longer cancellable', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const { order_id } = (await submit(authorization, orderBody(productId))).json();
    await api.prisma.order.update({ where: { id: order_id }, data: { status: 'confirmed' } });
    const res = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order_id}/cancel`, headers: { authorization } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ status: 409, detail: expect.stringMatching(/confirmed/) });
    expect(userId).toBeTruthy();
  });
});
