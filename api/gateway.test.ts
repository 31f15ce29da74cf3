import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { signDevToken } from './auth.js';
import { newUser, seedProduct, startApi, type TestApi } from '../test/support/api.js';

let api: TestApi;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

const secret = () => new TextEncoder().encode(api.config.jwt.secret);
const inOneHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('GET /health', () => {
  it('checks PostgreSQL, Kafka and Temporal for real and answers in the seed §8 shape', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      status: 'healthy',
      timestamp: expect.any(String),
      service: 'order-api',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      checks: { database: 'ok', eventBus: 'ok', temporal: 'ok' },
    });
    expect(Date.parse(body.timestamp)).not.toBeNaN();
  });
});

describe('the correlation id', () => {
  it('is the caller X-Request-Id when given, and a new uuid otherwise, on every response', async () => {
    const given = await api.app.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-request-id': 'req-abc.123' } });
    expect(given.headers['x-request-id']).toBe('req-abc.123');
    const fresh = await api.app.inject({ method: 'GET', url: '/api/v1/nowhere' });
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.json().request_id).toBe(fresh.headers['x-request-id']);
  });

  it('replaces an X-Request-Id that is not a sane token', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-request-id': 'bad id\nwith newline' } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('the catalog', () => {
  it('shows a product with the seed §1 fields, cacheable, and 304 for the ETag the client holds', async () => {
    const { productId } = await seedProduct(api.prisma, { price: '29.99', name: 'Espresso cup' });
    const res = await api.app.inject({ method: 'GET', url: `/api/v1/products/${productId}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: productId, name: 'Espresso cup', price: 29.99, currency: 'USD', in_stock: true });
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);

    const again = await api.app.inject({ method: 'GET', url: `/api/v1/products/${productId}`, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
  });

  it('says out of stock when every unit is reserved, and changes the ETag with it', async () => {
    const { productId, variantId } = await seedProduct(api.prisma, { stock: 3 });
    const before = await api.app.inject({ method: 'GET', url: `/api/v1/products/${productId}` });
    await api.prisma.stock.updateMany({ where: { variantId }, data: { reserved: 3 } });
    const after = await api.app.inject({ method: 'GET', url: `/api/v1/products/${productId}`, headers: { 'if-none-match': before.headers.etag as string } });
    expect(after.statusCode).toBe(200);
    expect(after.json().in_stock).toBe(false);
  });

  it('pages through the list with a cursor', async () => {
    const first = await api.app.inject({ method: 'GET', url: '/api/v1/products?limit=1' });
    await seedProduct(api.prisma);
    await seedProduct(api.prisma);
    const page1 = (await api.app.inject({ method: 'GET', url: '/api/v1/products?limit=2' })).json();
    expect(first.statusCode).toBe(200);
    expect(page1.data).toHaveLength(2);
    expect(page1.next_cursor).toBe(page1.data[1].id);
    const page2 = (await api.app.inject({ method: 'GET', url: `/api/v1/products?limit=2&cursor=${page1.next_cursor}` })).json();
    expect(page2.data.map((p: { id: string }) => p.id)).not.toContain(page1.data[0].id);
  });

  it('answers 404 as a problem for a product that does not exist, and 400 for an id that is not a uuid', async () => {
    const missing = await api.app.inject({ method: 'GET', url: '/api/v1/products/00000000-0000-4000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json()).toMatchObject({ status: 404, title: 'Not Found', type: 'urn:order-saga:problem:not-found' });
    const malformed = await api.app.inject({ method: 'GET', url: '/api/v1/products/not-a-uuid' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors[0]).toMatchObject({ in: 'params', pointer: '/id' });
  });
});

describe('JWT authentication', () => {
  const cart = (authorization?: string) =>
    api.app.inject({ method: 'GET', url: '/api/v1/cart', headers: authorization ? { authorization } : {} });

  it('lets a valid HS256 token through, as its subject', async () => {
    const { userId, authorization } = await newUser(api.config);
    const res = await cart(authorization);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ items: [], total: 0, currency: null });
    const other = await cart((await newUser(api.config)).authorization);
    expect(other.json().cart_id).not.toBe(res.json().cart_id);
    expect(userId).toBeTruthy();
  });

  it.each([
    ['no Authorization header', undefined],
    ['a malformed header', 'Bearer not-a-jwt'],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
  ])('answers 401 for %s', async (_, authorization) => {
    const res = await cart(authorization);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json()).toMatchObject({ status: 401, type: 'urn:order-saga:problem:unauthorized' });
  });

  it('answers 401 for a token signed with another secret', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime(inOneHour())
      .sign(new TextEncoder().encode('another-secret-that-is-long-enough-to-sign'));
    expect((await cart(`Bearer ${token}`)).statusCode).toBe(401);
  });

  it('answers 401 for an expired token', async () => {
    const token = await signDevToken(api.config.jwt, 'late-user', new Date(Date.now() - 60_000));
    const res = await cart(`Bearer ${token}`);
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/expired/);
  });

  it('answers 401 for a token without exp', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('forever').sign(secret());
    expect((await cart(`Bearer ${token}`)).statusCode).toBe(401);
  });

  it('answers 401 for alg: none, even with a valid-looking subject and expiry', async () => {
    const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: 'admin', exp: inOneHour() })}.`;
    expect((await cart(`Bearer ${token}`)).statusCode).toBe(401);
  });

  it('answers 401 for a token from another issuer or for another audience when they are configured', async () => {
    const strict = await startApi({ jwt: { issuer: 'https://auth.shop.example/', audience: 'order-api' } });
    try {
      const token = (claims: { iss?: string; aud?: string }) => {
        let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('someone').setExpirationTime(inOneHour());
        if (claims.iss) jwt = jwt.setIssuer(claims.iss);
        if (claims.aud) jwt = jwt.setAudience(claims.aud);
        return jwt.sign(new TextEncoder().encode(strict.config.jwt.secret));
      };
      const cartWith = async (claims: { iss?: string; aud?: string }) =>
        (await strict.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization: `Bearer ${await token(claims)}` } })).statusCode;
      expect(await cartWith({ iss: 'https://auth.shop.example/', aud: 'order-api' })).toBe(200);
      expect(await cartWith({ iss: 'https://evil.example/', aud: 'order-api' })).toBe(401);
      expect(await cartWith({ iss: 'https://auth.shop.example/', aud: 'another-api' })).toBe(401);
      expect(await cartWith({})).toBe(401);
      // `npm run token` signs with the issuer and audience it is configured with.
      const printed = spawnSync(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['scripts/dev-token.ts', 'dev-user'], {
        cwd: projectRoot,
        encoding: 'utf8',
        env: { ...process.env, JWT_SECRET: strict.config.jwt.secret, JWT_ISSUER: 'https://auth.shop.example/', JWT_AUDIENCE: 'order-api' },
      });
      expect(printed.status, printed.stderr).toBe(0);
      const devToken = printed.stdout.trim();
      expect(decodeJwt(devToken)).toMatchObject({ sub: 'dev-user', iss: 'https://auth.shop.example/', aud: 'order-api' });
      expect((await strict.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization: `Bearer ${devToken}` } })).statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('answers 401 for an RS256 token when the API is configured for HS256', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('rsa-user').setExpirationTime(inOneHour()).sign(privateKey);
    expect((await cart(`Bearer ${token}`)).statusCode).toBe(401);
  });
});

describe('the cart', () => {
  it('adds, raises and removes items, priced from the catalog (seed §1 Example 2)', async () => {
    const { authorization } = await newUser(api.config);
    const { productId, variantId } = await seedProduct(api.prisma, { price: '29.99' });
    const add = (quantity: number) =>
      api.app.inject({ method: 'POST', url: '/api/v1/cart/items', headers: { authorization }, payload: { product_id: productId, variant_id: variantId, quantity } });

    const first = await add(2);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ cart_id: expect.any(String), total: 59.98, currency: 'USD' });
    expect(first.json().items).toEqual([expect.objectContaining({ product_id: productId, variant_id: variantId, quantity: 2, unit_price: 29.99, line_total: 59.98 })]);
    expect((await add(1)).json().items[0].quantity).toBe(3);

    const removed = await api.app.inject({ method: 'DELETE', url: `/api/v1/cart/items/${productId}`, headers: { authorization } });
    expect(removed.statusCode).toBe(200);
    expect(removed.json()).toMatchObject({ items: [], total: 0 });
    const again = await api.app.inject({ method: 'DELETE', url: `/api/v1/cart/items/${productId}`, headers: { authorization } });
    expect(again.statusCode).toBe(404);
  });

  it('refuses an unknown product (404), a bad quantity and unknown fields (400), writing nothing', async () => {
    const { userId, authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    const post = (payload: object) => api.app.inject({ method: 'POST', url: '/api/v1/cart/items', headers: { authorization }, payload });

    expect((await post({ product_id: '00000000-0000-4000-8000-000000000000', quantity: 1 })).statusCode).toBe(404);
    expect((await post({ product_id: productId, quantity: 0 })).statusCode).toBe(400);
    expect((await post({ product_id: productId, quantity: 101 })).statusCode).toBe(400);
    const unknown = await post({ product_id: productId, quantity: 1, price: 0.01 });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().detail).toMatch(/price/);
    expect(await api.prisma.cart.count({ where: { userId } })).toBe(0);
  });

  it('answers 409 when what the cart holds refuses a valid request: another currency, a line past its maximum', async () => {
    const { authorization } = await newUser(api.config);
    const dollars = await seedProduct(api.prisma, { currency: 'USD' });
    const euros = await seedProduct(api.prisma, { currency: 'EUR' });
    const post = (productId: string, quantity: number) =>
      api.app.inject({ method: 'POST', url: '/api/v1/cart/items', headers: { authorization }, payload: { product_id: productId, quantity } });

    expect((await post(dollars.productId, 60)).statusCode).toBe(201);
    const otherCurrency = await post(euros.productId, 1);
    expect(otherCurrency.statusCode).toBe(409);
    expect(otherCurrency.json()).toMatchObject({ type: 'urn:order-saga:problem:conflict', detail: expect.stringMatching(/USD/) });
    const tooMany = await post(dollars.productId, 60);
    expect(tooMany.statusCode).toBe(409);
    expect(tooMany.json().detail).toMatch(/at most/);
    const cart = (await api.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization } })).json();
    expect(cart.items).toEqual([expect.objectContaining({ product_id: dollars.productId, quantity: 60 })]);
  });
});

describe('GET /api/v1/admin/stats', () => {
  it('answers a range whose from is not before its to as empty, since the document allows any two times', async () => {
    const authorization = `Bearer ${await signDevToken(api.config.jwt, 'stats-admin', undefined, ['admin'])}`;
    const stats = (query: string) => api.app.inject({ method: 'GET', url: `/api/v1/admin/stats?${query}`, headers: { authorization } });
    for (const query of ['from=2031-05-06T09:00:00Z&to=2031-05-06T09:00:00Z', 'from=2031-05-06T09:00:00Z&to=2031-05-06T07:00:00Z']) {
      const res = await stats(query);
      expect(res.statusCode, query).toBe(200);
      expect(res.json(), query).toMatchObject({ hours: [], totals: [] });
    }
    expect((await stats('from=yesterday')).statusCode).toBe(400);
  });
});

describe('request bodies the API cannot read', () => {
  it('answers 400 for invalid JSON, 415 for another content type and 413 above the body limit, as problems', async () => {
    const { authorization } = await newUser(api.config);
    const url = '/api/v1/cart/items';
    const invalid = await api.app.inject({ method: 'POST', url, headers: { authorization, 'content-type': 'application/json' }, payload: '{"product_id": ' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({ type: 'urn:order-saga:problem:invalid-json' });

    const text = await api.app.inject({ method: 'POST', url, headers: { authorization, 'content-type': 'text/plain' }, payload: 'hello' });
    expect(text.statusCode).toBe(415);
    expect(text.headers['content-type']).toMatch(/^application\/problem\+json/);

    const huge = await api.app.inject({
      method: 'POST',
      url,
      headers: { authorization, 'content-type': 'application/json' },
      payload: JSON.stringify({ padding: 'x'.repeat(api.config.api.bodyLimitBytes) }),
    });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({ status: 413, type: 'urn:order-saga:problem:body-too-large' });
  });
});

describe('methods a path does not have', () => {
  it.each([
    ['PUT', '/api/v1/orders', 'GET, HEAD, POST'],
    ['DELETE', '/api/v1/orders/00000000-0000-4000-8000-000000000000', 'GET, HEAD'],
    ['GET', '/api/v1/orders/00000000-0000-4000-8000-000000000000/cancel', 'POST'],
    ['PATCH', '/api/v1/cart/items/00000000-0000-4000-8000-000000000000', 'DELETE'],
    ['TRACE', '/health', 'GET, HEAD'],
    ['QUERY', '/api/v1/products/00000000-0000-4000-8000-000000000000', 'GET, HEAD'],
  ] as const)('answer %s %s with 405, a problem, and Allow: %s', async (method, url, allow) => {
    const res = await api.app.inject({ method, url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 405, type: 'urn:order-saga:problem:method-not-allowed' });
  });

  it('leave a path that does not exist at 404', async () => {
    const res = await api.app.inject({ method: 'PUT', url: '/api/v1/nowhere' });
    expect(res.statusCode).toBe(404);
    expect(res.headers.allow).toBeUndefined();
  });
});

describe('CORS (seed §7)', () => {
  it('answers a preflight for the API with the allowed origin, methods and headers', async () => {
    const res = await api.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/orders',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,idempotency-key' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('idempotency-key');
  });
});

describe('rate limits (seed §7)', () => {
  it('answers 429 with Retry-After past the per-user and per-client limits', async () => {
    const limited = await startApi({ api: { rateLimit: { userPerMinute: 2, productsPerMinute: 3 } } });
    try {
      const alice = await newUser(limited.config);
      const bob = await newUser(limited.config);
      const cart = (authorization: string) => limited.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization } });
      expect((await cart(alice.authorization)).statusCode).toBe(200);
      expect((await cart(alice.authorization)).statusCode).toBe(200);
      const refused = await cart(alice.authorization);
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect((await cart(bob.authorization)).statusCode).toBe(200);

      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await limited.app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('rate limits by client address', () => {
  const badToken = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl';

  it('count requests refused for bad credentials: past the limit a client guessing tokens gets 429, signed-in users are unaffected', async () => {
    const limited = await startApi({ api: { rateLimit: { userPerMinute: 3, productsPerMinute: 1000 } } });
    try {
      const cart = (authorization: string, remoteAddress = '198.51.100.7') =>
        limited.app.inject({ method: 'GET', url: '/api/v1/cart', headers: { authorization }, remoteAddress });
      const statuses = [];
      for (let i = 0; i < 5; i += 1) statuses.push((await cart(badToken)).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const refused = await cart('Bearer not-a-jwt');
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect((await cart(badToken, '198.51.100.8')).statusCode).toBe(401);
      expect((await cart((await newUser(limited.config)).authorization)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('ignore X-Forwarded-For unless the proxy is trusted: a forged header cannot pick a bucket', async () => {
    const limited = await startApi({ api: { rateLimit: { userPerMinute: 100, productsPerMinute: 2 } } });
    try {
      const products = (forwardedFor: string) =>
        limited.app.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-forwarded-for': forwardedFor }, remoteAddress: '198.51.100.7' });
      const statuses = [];
      for (const forged of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) statuses.push((await products(forged)).statusCode);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  it('behind a trusted load balancer, give each client of X-Forwarded-For its own bucket', async () => {
    const balancer = '10.0.0.5';
    const limited = await startApi({ api: { trustProxy: ['10.0.0.0/8'], rateLimit: { userPerMinute: 2, productsPerMinute: 2 } } });
    try {
      const viaBalancer = (url: string, client: string, headers: Record<string, string> = {}) =>
        limited.app.inject({ method: 'GET', url, headers: { 'x-forwarded-for': client, ...headers }, remoteAddress: balancer });
      const statuses = async (url: string, clients: string[], headers?: Record<string, string>) => {
        const seen = [];
        for (const client of clients) seen.push((await viaBalancer(url, client, headers)).statusCode);
        return seen;
      };
      expect(await statuses('/api/v1/products', ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2'])).toEqual([200, 200, 429, 200]);
      expect(await statuses('/api/v1/search?q=shoe', ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2'])).toEqual([200, 200, 429, 200]);
      expect(await statuses('/api/v1/cart', ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2'], { authorization: badToken })).toEqual([
        401, 401, 429, 401,
      ]);
      // A client that reaches the API around the balancer cannot choose its address either.
      const direct = (forged: string) =>
        limited.app.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-forwarded-for': forged }, remoteAddress: '198.51.100.9' });
      const direct1 = await direct('203.0.113.50');
      const direct2 = await direct('203.0.113.51');
      const direct3 = await direct('203.0.113.52');
      expect([direct1.statusCode, direct2.statusCode, direct3.statusCode]).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3 and the docs UI serves it', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(res.json());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toMatch(/^3\./);
    const docs = await api.app.inject({ method: 'GET', url: '/docs' });
    const page = docs.statusCode === 302 ? await api.app.inject({ method: 'GET', url: docs.headers.location as string }) : docs;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger-ui');
  });

  it('documents every route of CONTRACT §2, and each answers with a status and content type it documents', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }>; security?: unknown[] }>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(
      [
        'DELETE /api/v1/cart/items/{product_id}',
        'GET /api/v1/admin/stats',
        'GET /api/v1/cart',
        'GET /api/v1/orders',
        'GET /api/v1/orders/{id}',
        'GET /api/v1/products',
        'GET /api/v1/products/{id}',
        'GET /api/v1/search',
        'GET /health',
        'POST /api/v1/cart/items',
        'POST /api/v1/orders',
        'POST /api/v1/orders/{id}/cancel',
        'POST /api/v1/payments/webhook',
      ].sort(),
    );

    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma);
    for (const { path, method, op } of operations) {
      const url = path.replace('{id}', path.includes('products') ? productId : '00000000-0000-4000-8000-000000000000').replace('{product_id}', productId);
      const res = await api.app.inject({
        method: method.toUpperCase() as 'GET',
        url,
        headers: op.security ? { authorization } : {},
        ...(method === 'post' ? { payload: {} } : {}),
      });
      expect(Object.keys(op.responses), `${method.toUpperCase()} ${path} answered ${res.statusCode}`).toContain(String(res.statusCode));
      const type = res.statusCode >= 400 ? 'application/problem+json' : 'application/json';
      expect(String(res.headers['content-type']).split(';')[0], `${method.toUpperCase()} ${path}`).toBe(type);
      expect(Object.keys(op.responses[res.statusCode]?.content ?? {}), `${method.toUpperCase()} ${path} documents its ${res.statusCode}`).toEqual([type]);
    }
  });

  it('refuses the search words it says it refuses: none but spaces, or more than 200 characters', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, { get: { parameters: { name: string; schema: { pattern?: string; minLength?: number; maxLength?: number } }[] } }>;
    };
    const q = doc.paths['/api/v1/search']!.get.parameters.find((p) => p.name === 'q')!.schema;
    const documented = (text: string) =>
      (q.pattern === undefined || new RegExp(q.pattern, 'u').test(text)) && text.length >= (q.minLength ?? 0) && text.length <= (q.maxLength ?? Infinity);
    const words = [' ', '   ', '\t\n', '\u000b', '\u3000\u00a0', '\ufeff', '\u2028', '\u001c', ' shoe ', 'x'.repeat(200), `${'x'.repeat(200)} `, 'x'.repeat(201)];
    const answers = [];
    for (const text of words) answers.push((await api.app.inject({ method: 'GET', url: '/api/v1/search', query: { q: text } })).statusCode);
    expect(answers).toEqual(words.map((text) => (documented(text) ? 200 : 400)));
  });
});
