import { STATUS_CODES } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../domain/payments/webhook-signature.js';
import { newUser, orderBody, seedProduct, startApi, type TestApi } from '../test/support/api.js';

// What the fuzz run (test/fuzz) found, each pinned down here on its own.

let api: TestApi;
let productId: string;
beforeAll(async () => {
  api = await startApi({ api: { breaker: { failureThreshold: 3, resetMs: 60_000 } } });
  ({ productId } = await seedProduct(api.prisma));
});
afterAll(async () => {
  await api?.close();
});

const rowCounts = async () => ({
  orders: await api.prisma.order.count(),
  outbox: await api.prisma.outboxEvent.count(),
  idempotency: await api.prisma.idempotencyRecord.count(),
  carts: await api.prisma.cartItem.count(),
});

describe('text no column can hold: NUL and lone surrogates', () => {
  it('is refused with 400 in any string of an order, naming the field, and nothing is written', async () => {
    const { authorization } = await newUser(api.config);
    const before = await rowCounts();
    const bodies = {
      '/shipping_address/address_line1': { ...orderBody(productId), shipping_address: { ...orderBody(productId).shipping_address, address_line1: 'Main\u0000Street' } },
      '/shipping_address/city': { ...orderBody(productId), shipping_address: { ...orderBody(productId).shipping_address, city: 'Spring\ud800field' } },
      // A lone surrogate reached the payment step's error message, which Temporal could not encode: the worker stopped.
      '/payment/token': orderBody(productId, { token: 'tok_\udfff' }),
    };
    for (const [pointer, body] of Object.entries(bodies)) {
      const res = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization, 'content-type': 'application/json', 'idempotency-key': pointer }, payload: JSON.stringify(body) });
      expect(res.statusCode, pointer).toBe(400);
      expect(res.json().errors, pointer).toEqual([expect.objectContaining({ in: 'body', pointer })]);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('is 400 in a query and a path, not a database failure that opens the circuit for everyone', async () => {
    for (let i = 0; i < 5; i += 1) {
      const search = await api.app.inject({ method: 'GET', url: '/api/v1/search?q=%00' });
      expect(search.statusCode).toBe(400);
      expect(search.json().errors).toEqual([expect.objectContaining({ in: 'querystring', pointer: '/q' })]);
    }
    expect((await api.app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode).toBe(200);
  });
});

describe('a token whose subject is no user id', () => {
  const signed = (sub: unknown) =>
    new SignJWT({ sub } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(api.config.jwt.secret));

  it('is 401 whether the subject is a number, holds a NUL or a lone surrogate, and counts against no database', async () => {
    for (const sub of [42, 'user\u0000', 'user\ud800']) {
      const authorization = `Bearer ${await signed(sub)}`;
      for (const url of ['/api/v1/orders', '/api/v1/cart']) {
        const res = await api.app.inject({ method: 'GET', url, headers: { authorization } });
        expect(res.statusCode, `${JSON.stringify(sub)} on ${url}`).toBe(401);
      }
    }
    expect((await api.app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode).toBe(200);
  });
});

describe('GET /api/v1/admin/stats with times at the edges of the calendar', () => {
  it('counts a range that reaches before the year 1 from the year 1 on (PostgreSQL has no year 0), not 500', async () => {
    const { userId } = await newUser(api.config);
    const authorization = `Bearer ${await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(api.config.jwt.secret))}`;
    const res = await api.app.inject({ method: 'GET', url: '/api/v1/admin/stats?to=0000-01-01T00:00:00Z', headers: { authorization } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ from: '0001-01-01T00:00:00.000Z', to: '0001-01-01T00:00:00.000Z', hours: [], totals: [] });
  });
});

describe('paths the router cannot take', () => {
  it('answer as problems: a malformed escape (400) and an overlong parameter (414)', async () => {
    const { authorization } = await newUser(api.config);
    for (const [url, status] of [
      ['/api/v1/orders/%E0%A4%A', 400],
      [`/api/v1/orders/${'9'.repeat(500)}`, 414],
    ] as const) {
      const res = await api.app.inject({ method: 'GET', url, headers: { authorization } });
      expect(res.statusCode, url).toBe(status);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status, instance: expect.any(String) });
    }
  });
});

describe('a signed payment webhook with text no column can hold', () => {
  const deliver = (body: string) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/payments/webhook',
      headers: { 'content-type': 'application/json', 'payment-signature': signWebhook(api.config.paymentWebhook.secret, body, Math.floor(Date.now() / 1000)) },
      payload: body,
    });

  it('is 404 for a payment id with a NUL (no payment has it), and members the API ignores may hold any text', async () => {
    const unknownPayment = await deliver(JSON.stringify({ id: 'evt_1', type: 'charge.succeeded', data: { object: { id: 'ch_\u0000' } } }));
    expect(unknownPayment.statusCode).toBe(404);
    const ignoredMembers = await deliver(JSON.stringify({ id: 'evt_\ud800', type: 'charge.updated', data: { object: { id: 'ch_1', note: 'a\u0000b' } }, 'x\u0000': 1 }));
    expect(ignoredMembers.statusCode).toBe(200);
  });
});

describe('requests Node cannot parse as HTTP', () => {
  it('are answered as problems too: a Content-Length that is not a number (400), headers too large (431)', async () => {
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = api.app.server.address() as AddressInfo;
    const send = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    for (const [request, status] of [
      ['POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: many\r\n\r\n{}', 400],
      [`GET /api/v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'A'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const answer = await send(request);
      expect(answer.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${STATUS_CODES[status]}`);
      expect(answer).toMatch(/\r\nContent-Type: application\/problem\+json\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ status });
    }
  });
});
