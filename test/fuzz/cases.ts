import { generateKeyPair, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { signDevToken } from '../../api/auth.js';
import { signWebhook } from '../../domain/payments/webhook-signature.js';
import { orderWorkflowId } from '../../workflows/definitions.js';
import { shippingAddress } from '../support/api.js';
import { rawRequest, type RawAnswer, type RawRequest } from './http.js';
import { operationOf, type FuzzTarget } from './target.js';

/** One hand-made hostile request, the answers it may get, and what else its answer must (not) say. */
interface HandCase {
  group: string;
  name: string;
  /** Made when the case runs (webhook timestamps are signed then). */
  request: () => RawRequest | Promise<RawRequest>;
  expect: number[];
  /** Also for an answer that is not a refusal: the request must write nothing (a replay). */
  mustNotWrite?: boolean;
  /** What is wrong with the answer beyond its status, if anything. */
  check?: (answer: RawAnswer) => string | undefined;
}

/** A case whose answer was not one it may get. */
export interface CaseFinding {
  case: string;
  status: number;
  problem: string;
}

export interface HandCasesResult {
  cases: number;
  byGroup: Record<string, number>;
  findings: CaseFinding[];
}

const ORDERS = '/api/v1/orders';
const JSON_TYPE = { 'content-type': 'application/json' };

/** Strings a text field meets in the wild, and some it should never meet. */
const SHORT_RUN_STRINGS = ['lone high surrogate', 'NUL', 'emoji family (ZWJ)'];

export const HOSTILE_STRINGS: Record<string, string> = {
  'lone high surrogate': 'a\ud800b',
  'lone low surrogate': '\udfffz',
  NUL: 'before\u0000after',
  'right-to-left override': 'abc\u202edcba',
  emoji: '🛒📦✨',
  'emoji family (ZWJ)': '👨‍👩‍👧‍👦',
  'combining marks': 'e\u0301\u0301\u0301',
  'byte order mark': '\ufeffstreet',
  'non-character': 'x\uffffy',
  'control characters': 'bell\u0007\u001b[31m',
  'line breaks': 'line\r\nbreak',
  'arabic and hebrew': 'شارع הרצל',
  'astral plane': '𝕏𝔸𝕄',
  'at the length limit in emoji': '😀'.repeat(100),
};

/** A header value carrying text as its UTF-8 bytes, without the control characters no header may hold. */
function headerValue(text: string): string {
  return [...Buffer.from(text, 'utf8').toString('latin1')].filter((c) => c >= ' ' && c !== '\u007f').join('');
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * The hand-made cases of issue 11: huge and deeply nested bodies, wrong content types, unicode in
 * every string field, tampered tokens, other users' ids, replayed and tampered webhooks,
 * Idempotency-Key misuse and bad query parameters. Each goes through the recorder (zero 5xx, a
 * refusal writes nothing) and is checked against the answers it may get.
 */
export async function runHandMadeCases(target: FuzzTarget, options: { thorough: boolean }): Promise<HandCasesResult> {
  const { api, recorder, apiUrl, provider } = target;
  const config = api.config;
  const [product, otherProduct] = target.products as [FuzzTarget['products'][number], FuzzTarget['products'][number]];
  const alice = randomUUID();
  const bob = randomUUID();
  const bearer = async (userId: string, roles: string[] = []) => `Bearer ${await signDevToken(config.jwt, userId, undefined, roles)}`;
  const aliceAuth = await bearer(alice);
  const bobAuth = await bearer(bob);
  const adminAuth = await bearer(randomUUID(), ['admin']);
  const orderBody = (token = 'tok_visa', productId = product.productId) => ({
    items: [{ product_id: productId, quantity: 1 }],
    shipping_address: shippingAddress,
    payment: { method: 'card', token },
  });
  const place = (auth: string, body: unknown, key?: string): RawRequest => ({
    method: 'POST',
    path: ORDERS,
    headers: { ...JSON_TYPE, authorization: auth, ...(key ? { 'idempotency-key': key } : {}) },
    body: json(body),
  });

  // Alice's orders and cart, which Bob then reaches for.
  const setUp = await recorder.aside(async () => {
    const placed = async (token: string, key?: string) => {
      const answer = await rawRequest(apiUrl, place(aliceAuth, orderBody(token), key));
      if (answer.status !== 202) throw new Error(`setting up: an order was refused: ${answer.status} ${answer.body}`);
      return JSON.parse(answer.body) as { order_id: string; order_number: string };
    };
    const waiting = await placed('tok_threeDSecure');
    const confirmed = await placed('tok_visa', 'alice-key-1');
    const toComplete = await placed('tok_threeDSecure');
    const cart = await rawRequest(apiUrl, {
      method: 'POST',
      path: '/api/v1/cart/items',
      headers: { ...JSON_TYPE, authorization: aliceAuth },
      body: json({ product_id: otherProduct.productId, quantity: 2 }),
    });
    if (cart.status !== 201) throw new Error(`setting up: the cart refused: ${cart.status} ${cart.body}`);
    const charges = async (orderId: string) => {
      for (let i = 0; i < 200; i += 1) {
        const [charge] = provider.fake.chargesFor(orderId);
        if (charge) return charge.id;
        await sleep(50);
      }
      throw new Error(`setting up: order ${orderId} was never charged`);
    };
    return { waiting, confirmed, toComplete, waitingCharge: await charges(waiting.order_id), toCompleteCharge: await charges(toComplete.order_id), confirmedCharge: await charges(confirmed.order_id) };
  });

  /**
   * The waiting order's saga times its payment out 15 minutes after it was placed and then writes
   * (fails the order, voids the charge, releases the stock), whatever request happens to be under
   * watch then: once the cases that need it have run, Alice cancels it and its saga ends.
   */
  const endWaitingOrder = () =>
    recorder.aside(async () => {
      const cancel = await rawRequest(apiUrl, { method: 'POST', path: `${ORDERS}/${setUp.waiting.order_id}/cancel`, headers: { authorization: aliceAuth } });
      if (cancel.status !== 202) throw new Error(`the waiting order's cancel was refused: ${cancel.status} ${cancel.body}`);
      const { status } = await api.temporal.workflow.getHandle(orderWorkflowId(setUp.waiting.order_id)).result();
      if (status !== 'cancelled') throw new Error(`the waiting order ended ${status}, not cancelled`);
    });

  const cases: HandCase[] = [];
  const add = (group: string, name: string, request: HandCase['request'], expect: number[], extra: Partial<HandCase> = {}) =>
    cases.push({ group, name, request, expect, ...extra });

  // Bodies: beyond the limit (with and without a length), deeply nested, not JSON at all.
  const limit = config.api.bodyLimitBytes;
  const bigAddress = (size: number) => json({ ...orderBody(), shipping_address: { ...shippingAddress, address_line1: 'x'.repeat(size) } });
  const bodyTargets = [
    { path: ORDERS, auth: true },
    { path: '/api/v1/cart/items', auth: true },
    { path: '/api/v1/payments/webhook', auth: false },
  ];
  for (const { path, auth } of bodyTargets) {
    const headers = { ...JSON_TYPE, ...(auth ? { authorization: aliceAuth } : {}) };
    add('huge body', `${path}: one byte over the limit`, () => ({ method: 'POST', path, headers, body: bigAddress(limit) }), [413]);
    add('huge body', `${path}: 8 MB`, () => ({ method: 'POST', path, headers, body: bigAddress(8 * 1024 * 1024) }), [413]);
    add('huge body', `${path}: 2 MB chunked, no length`, () => ({ method: 'POST', path, headers, body: bigAddress(2 * 1024 * 1024), chunked: true }), [413]);
    add('huge body', `${path}: a length that is not a number`, () => ({ method: 'POST', path, headers: { ...headers, 'content-length': 'many' }, body: '{}' }), [400]);
    for (const depth of [1_000, 30_000]) {
      add('deep nesting', `${path}: arrays ${depth} deep`, () => ({ method: 'POST', path, headers, body: '['.repeat(depth) + ']'.repeat(depth) }), [400]);
      add('deep nesting', `${path}: objects ${depth} deep in a field`, () => {
        const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        return { method: 'POST', path, headers, body: `{"items":[{"product_id":${nested},"quantity":1}],"id":${nested},"shipping_address":${nested}}` };
      }, [400, 413]);
    }
    for (const [name, body] of Object.entries({
      'invalid JSON': '{"items": [',
      'empty body': '',
      'null': 'null',
      'a string': '"order"',
      'a number': '42',
      'an array': '[]',
      'prototype pollution': '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}',
      'duplicate keys': `{"items":[],"items":"x","shipping_address":${json(shippingAddress)}}`,
      'NaN and Infinity': '{"quantity": NaN, "x": Infinity}',
      'a huge number': `{"items":[{"product_id":"${product.productId}","quantity":1e400}]}`,
      'invalid UTF-8': Buffer.concat([Buffer.from('{"items":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]).toString('latin1'),
    })) {
      const bytes = name === 'invalid UTF-8' ? Buffer.from(body, 'latin1') : body;
      add('malformed body', `${path}: ${name}`, () => ({ method: 'POST', path, headers, body: bytes }), [400]);
    }

    // Content types: only JSON is read.
    for (const [type, body] of Object.entries({
      'text/plain': json(orderBody()),
      'application/x-www-form-urlencoded': 'items=1&payment=tok_visa',
      'multipart/form-data; boundary=xyz': '--xyz\r\nContent-Disposition: form-data; name="items"\r\n\r\n1\r\n--xyz--\r\n',
      'application/xml': '<order><items/></order>',
      'text/json': json(orderBody()),
      'application/jsonx': json(orderBody()),
      'application/json-patch+json': '[{"op":"add","path":"/x","value":1}]',
      'application/json; charset=utf-16le': Buffer.from(json(orderBody()), 'utf16le').toString('latin1'),
      ';;;': json(orderBody()),
      [`application/json; ${'x'.repeat(6_000)}=1`]: json(orderBody()),
      'no content type': json(orderBody()),
    })) {
      const withType = { ...headers } as Record<string, string>;
      if (type === 'no content type') delete withType['content-type'];
      else withType['content-type'] = type;
      const bytes = type.includes('utf-16') ? Buffer.from(body, 'latin1') : body;
      // Parameters of a JSON type are read past (RFC 9110 §8.3.2); only a charset other than UTF-8 is refused.
      const read = type.startsWith('application/json; x');
      add('content type', `${path}: ${type.slice(0, 60)}`, () => ({ method: 'POST', path, headers: withType, body: bytes }), read ? [202, 201, 400, 404] : [400, 415]);
    }
  }
  add('content type', 'GET /orders with an XML body', () => ({ method: 'GET', path: ORDERS, headers: { authorization: aliceAuth, 'content-type': 'application/xml' }, body: '<x/>' }), [200, 400, 415]);

  // Unicode in every string field of every body, header, parameter and path.
  // The short run takes the strings that found defects and a few more; the thorough one takes them all.
  const strings = Object.entries(HOSTILE_STRINGS).filter(([label]) => options.thorough || SHORT_RUN_STRINGS.includes(label));
  for (const [label, text] of strings) {
    for (const field of ['address_line1', 'address_line2', 'city', 'state', 'postal_code', 'country'] as const) {
      const value = field === 'postal_code' ? text.slice(0, 20) : text;
      add('unicode', `order ${field}: ${label}`, () => place(aliceAuth, { ...orderBody(), shipping_address: { ...shippingAddress, [field]: value } }), [202, 400]);
    }
    add('unicode', `order payment token: ${label}`, () => place(aliceAuth, orderBody(text)), [202, 400]);
    add('unicode', `order payment method: ${label}`, () => place(aliceAuth, { ...orderBody(), payment: { method: text, token: 'tok_visa' } }), [400]);
    add('unicode', `order product id: ${label}`, () => place(aliceAuth, { ...orderBody(), items: [{ product_id: text, quantity: 1 }] }), [400]);
    add('unicode', `order variant id: ${label}`, () => place(aliceAuth, { ...orderBody(), items: [{ product_id: product.productId, variant_id: text, quantity: 1 }] }), [400]);
    add('unicode', `order field name: ${label}`, () => place(aliceAuth, { ...orderBody(), [text]: 1 }), [400]);
    add('unicode', `Idempotency-Key (as UTF-8 bytes): ${label}`, () => place(aliceAuth, orderBody(), headerValue(text)), [202, 400]);
    add('unicode', `cart product id: ${label}`, () => ({ method: 'POST', path: '/api/v1/cart/items', headers: { ...JSON_TYPE, authorization: aliceAuth }, body: json({ product_id: text, quantity: 1 }) }), [400]);
    add('unicode', `webhook ids and type (signed): ${label}`, () => {
      const body = json({ id: text, type: 'charge.succeeded', data: { object: { id: text } } });
      return { method: 'POST', path: '/api/v1/payments/webhook', headers: { ...JSON_TYPE, 'payment-signature': signWebhook(config.paymentWebhook.secret, body, Math.floor(Date.now() / 1000)) }, body };
    }, [200, 400, 404]);
    add('unicode', `webhook type (signed): ${label}`, () => {
      const body = json({ id: 'evt_1', type: text, data: { object: { id: setUp.waitingCharge } } });
      return { method: 'POST', path: '/api/v1/payments/webhook', headers: { ...JSON_TYPE, 'payment-signature': signWebhook(config.paymentWebhook.secret, body, Math.floor(Date.now() / 1000)) }, body };
    }, [200, 400], { mustNotWrite: true });
    // A lone surrogate has no UTF-8 form: its would-be bytes, which are invalid UTF-8, go instead.
    const queryText = label.startsWith('lone') ? '%ED%A0%80' : encodeURIComponent(text);
    add('unicode', `search q: ${label}`, () => ({ method: 'GET', path: `/api/v1/search?q=${queryText}` }), [200, 400]);
    add('unicode', `products cursor: ${label}`, () => ({ method: 'GET', path: `/api/v1/products?cursor=${queryText}` }), [400]);
    add('unicode', `orders cursor: ${label}`, () => ({ method: 'GET', path: `${ORDERS}?cursor=${queryText}`, headers: { authorization: aliceAuth } }), [400]);
    add('unicode', `admin stats from: ${label}`, () => ({ method: 'GET', path: `/api/v1/admin/stats?from=${queryText}`, headers: { authorization: adminAuth } }), [400]);
    add('unicode', `order id in the path: ${label}`, () => ({ method: 'GET', path: `${ORDERS}/${queryText}`, headers: { authorization: aliceAuth } }), [400, 404, 414]);
    add('unicode', `cancel id in the path: ${label}`, () => ({ method: 'POST', path: `${ORDERS}/${queryText}/cancel`, headers: { authorization: aliceAuth } }), [400, 404, 414]);
    add('unicode', `product id in the path: ${label}`, () => ({ method: 'GET', path: `/api/v1/products/${queryText}` }), [400, 404, 414]);
    add('unicode', `cart product id in the path: ${label}`, () => ({ method: 'DELETE', path: `/api/v1/cart/items/${queryText}`, headers: { authorization: aliceAuth } }), [400, 404, 414]);
    // A token the issuer signed, for a user id nobody would choose.
    for (const [method, path, body] of [
      ['GET', ORDERS, undefined],
      ['GET', '/api/v1/cart', undefined],
      ['POST', '/api/v1/cart/items', json({ product_id: product.productId, quantity: 1 })],
      ['POST', ORDERS, json(orderBody())],
    ] as const) {
      add('unicode', `user id (token subject) on ${method} ${path}: ${label}`, async () => ({
        method,
        path,
        headers: { authorization: await bearer(text), ...(body ? JSON_TYPE : {}) },
        body,
      }), [200, 201, 202, 401]);
    }
  }

  // Tokens: tampered, expired, unsigned, signed otherwise, for another issuer or audience.
  const secret = new TextEncoder().encode(config.jwt.secret);
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: alice, iss: config.jwt.issuer, aud: config.jwt.audience, exp: now + 3600, iat: now };
  const hs = (payload: Record<string, unknown>, alg = 'HS256', key: Uint8Array = secret) => new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
  const b64 = (value: unknown) => Buffer.from(json(value)).toString('base64url');
  const valid = await hs(claims);
  const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string];
  const { privateKey } = await generateKeyPair('RS256');
  const tokens: Record<string, string | undefined> = {
    'no Authorization header': undefined,
    'Bearer and nothing': 'Bearer',
    'Bearer and a space': 'Bearer ',
    'Basic credentials': 'Basic dXNlcjpwYXNzd29yZA==',
    'not a JWT': 'Bearer not-a-token',
    'two parts': `Bearer ${validHeader}.${validPayload}`,
    'alg none, no signature': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${validPayload}.`,
    'alg none, the HS256 signature kept': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${validPayload}.${validSignature}`,
    'alg NONE, no signature': `Bearer ${b64({ alg: 'NONE' })}.${validPayload}.`,
    'expired an hour ago': `Bearer ${await hs({ ...claims, exp: now - 3600 })}`,
    'expired at the epoch': `Bearer ${await hs({ ...claims, exp: 0 })}`,
    'not valid before next year': `Bearer ${await hs({ ...claims, nbf: now + 365 * 86400 })}`,
    'without exp': `Bearer ${await hs({ sub: alice, iss: claims.iss, aud: claims.aud })}`,
    'exp as a string': `Bearer ${await hs({ ...claims, exp: String(now + 3600) })}`,
    'without sub': `Bearer ${await hs({ iss: claims.iss, aud: claims.aud, exp: claims.exp })}`,
    'an empty sub': `Bearer ${await hs({ ...claims, sub: '' })}`,
    'sub as a number': `Bearer ${await hs({ ...claims, sub: 42 })}`,
    'another issuer': `Bearer ${await hs({ ...claims, iss: 'https://evil.example/' })}`,
    'no issuer': `Bearer ${await hs({ sub: alice, aud: claims.aud, exp: claims.exp })}`,
    'another audience': `Bearer ${await hs({ ...claims, aud: 'another-api' })}`,
    'an audience list without ours': `Bearer ${await hs({ ...claims, aud: ['a', 'b'] })}`,
    'no audience': `Bearer ${await hs({ sub: alice, iss: claims.iss, exp: claims.exp })}`,
    'signed with another secret': `Bearer ${await hs(claims, 'HS256', new TextEncoder().encode('another-secret-another-secret-another-secret'))}`,
    'HS512 with our secret': `Bearer ${await hs(claims, 'HS512')}`,
    'RS256 with a key of its own': `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', jku: 'https://evil.example/jwks.json', kid: '../../etc/passwd' }).sign(privateKey)}`,
    'payload tampered (sub of Bob)': `Bearer ${validHeader}.${b64({ ...claims, sub: bob })}.${validSignature}`,
    'signature tampered': `Bearer ${validHeader}.${validPayload}.${validSignature.slice(0, -4)}${validSignature.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`,
    'header tampered (crit)': `Bearer ${b64({ alg: 'HS256', crit: ['exp'] })}.${validPayload}.${validSignature}`,
    'a huge token': `Bearer ${validHeader}.${'A'.repeat(20_000)}.${validSignature}`,
    'lower-case scheme with junk after': `bearer ${valid} junk`,
  };
  const tokenTargets = [
    ['GET', ORDERS, undefined],
    ['POST', ORDERS, json(orderBody())],
    ['GET', '/api/v1/cart', undefined],
    ['POST', '/api/v1/cart/items', json({ product_id: product.productId, quantity: 1 })],
    ['POST', `${ORDERS}/${setUp.waiting.order_id}/cancel`, undefined],
    ['GET', '/api/v1/admin/stats', undefined],
  ] as const;
  for (const [name, authorization] of Object.entries(tokens)) {
    for (const [method, path, body] of options.thorough ? tokenTargets : tokenTargets.slice(0, 1)) {
      add('token', `${name} on ${method} ${path.replace(setUp.waiting.order_id, '{id}')}`, () => ({
        method,
        path,
        headers: { ...(authorization === undefined ? {} : { authorization }), ...(body ? JSON_TYPE : {}) },
        body,
      }), name === 'a huge token' ? [401, 431] : [401]);
    }
  }

  // Other users' orders and carts: as missing as an order that does not exist, and nothing leaks.
  const leaks = (answer: RawAnswer) =>
    [alice, setUp.waiting.order_number, setUp.confirmed.order_number].some((shown) => answer.body.includes(shown)) ? 'the answer shows Alice\'s user id or order number' : undefined;
  for (const [name, orderId] of [['a waiting order', setUp.waiting.order_id], ['a confirmed order', setUp.confirmed.order_id]] as const) {
    add('other user', `Bob reads Alice's ${name}`, () => ({ method: 'GET', path: `${ORDERS}/${orderId}`, headers: { authorization: bobAuth } }), [404], { check: leaks });
    add('other user', `Bob cancels Alice's ${name}`, () => ({ method: 'POST', path: `${ORDERS}/${orderId}/cancel`, headers: { authorization: bobAuth } }), [404], { check: leaks });
    add('other user', `Bob pages from Alice's ${name}`, () => ({ method: 'GET', path: `${ORDERS}?cursor=${orderId}`, headers: { authorization: bobAuth } }), [200, 400, 404], {
      check: (answer) => leaks(answer) ?? (answer.body.includes(orderId) ? 'the page shows Alice\'s order' : undefined),
      mustNotWrite: true,
    });
  }
  add('other user', 'Bob lists his orders', () => ({ method: 'GET', path: ORDERS, headers: { authorization: bobAuth } }), [200], {
    check: (answer) => (answer.body.includes(setUp.waiting.order_id) ? 'Bob sees Alice\'s order' : undefined),
  });
  add('other user', "Bob removes a product from Alice's cart", () => ({ method: 'DELETE', path: `/api/v1/cart/items/${otherProduct.productId}`, headers: { authorization: bobAuth } }), [404]);
  add('other user', "Bob reuses Alice's Idempotency-Key with her body: an order of his own", () => place(bobAuth, orderBody('tok_visa'), 'alice-key-1'), [202], {
    check: (answer) => (answer.body.includes(setUp.confirmed.order_id) ? "Bob got Alice's order" : undefined),
  });
  add('other user', 'an order id nobody has', () => ({ method: 'GET', path: `${ORDERS}/${randomUUID()}`, headers: { authorization: bobAuth } }), [404]);
  add('other user', 'cancel an order id nobody has', () => ({ method: 'POST', path: `${ORDERS}/${randomUUID()}/cancel`, headers: { authorization: bobAuth } }), [404]);
  add('other user', 'Alice cancels her confirmed order', () => ({ method: 'POST', path: `${ORDERS}/${setUp.confirmed.order_id}/cancel`, headers: { authorization: aliceAuth } }), [409]);

  // Webhooks: unsigned, tampered, stale, from the future, replayed.
  const webhookSecret = config.paymentWebhook.secret;
  const tolerance = config.paymentWebhook.toleranceSeconds;
  const event = (type: string, chargeId: string) => json({ id: `evt_${randomUUID()}`, type, data: { object: { id: chargeId } } });
  const webhook = (body: string, signature?: string): RawRequest => ({
    method: 'POST',
    path: '/api/v1/payments/webhook',
    headers: { ...JSON_TYPE, ...(signature === undefined ? {} : { 'payment-signature': signature }) },
    body,
  });
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const succeeded = event('charge.succeeded', setUp.waitingCharge);
  add('webhook', 'unsigned', () => webhook(succeeded), [400]);
  add('webhook', 'a signature header of another form', () => webhook(succeeded, 'sha256=abc'), [400]);
  add('webhook', 'signed, then the body tampered', () => webhook(succeeded.replace('charge.succeeded', 'charge.failed'), signWebhook(webhookSecret, succeeded, nowSeconds())), [400]);
  add('webhook', 'signed with another secret', () => webhook(succeeded, signWebhook('another-secret', succeeded, nowSeconds())), [400]);
  add('webhook', 'signed past the tolerance', () => webhook(succeeded, signWebhook(webhookSecret, succeeded, nowSeconds() - tolerance - 5)), [400]);
  add('webhook', 'signed in the future past the tolerance', () => webhook(succeeded, signWebhook(webhookSecret, succeeded, nowSeconds() + tolerance + 5)), [400]);
  add('webhook', 'the timestamp changed after signing', () => {
    const signed = signWebhook(webhookSecret, succeeded, nowSeconds());
    return webhook(succeeded, signed.replace(/^t=(\d+)/, (_, t: string) => `t=${Number(t) - 1}`));
  }, [400]);
  add('webhook', 'only a v0 signature', () => webhook(succeeded, signWebhook(webhookSecret, succeeded, nowSeconds()).replace('v1=', 'v0=')), [400]);
  add('webhook', 'a thousand wrong signatures', () => webhook(succeeded, `t=${nowSeconds()}${',v1=00'.repeat(1000)}`), [400]);
  add('webhook', 'a timestamp beyond any date', () => webhook(succeeded, signWebhook(webhookSecret, succeeded, 1e20)), [400]);
  add('webhook', 'signed, for a payment nobody has', () => {
    const body = event('charge.succeeded', 'ch_nobody');
    return webhook(body, signWebhook(webhookSecret, body, nowSeconds()));
  }, [404]);
  add('webhook', 'signed, of a type that is ignored', () => {
    const body = event('charge.refunded', setUp.waitingCharge);
    return webhook(body, signWebhook(webhookSecret, body, nowSeconds()));
  }, [200], { mustNotWrite: true });
  add('webhook', 'signed, charge.failed for a charge that succeeded (confirmed order)', () => {
    const body = event('charge.failed', setUp.confirmedCharge);
    return webhook(body, signWebhook(webhookSecret, body, nowSeconds()));
  }, [200, 404, 409], { mustNotWrite: true });
  // The customer completes 3-D Secure; the provider calls; then the same call comes again, and late.
  let delivered: { body: string; signature: string } | undefined;
  add('webhook', 'signed, the payment completed (accepted)', async () => {
    await recorder.aside(async () => void provider.completeAuthentication(setUp.toCompleteCharge));
    const body = event('charge.succeeded', setUp.toCompleteCharge);
    delivered = { body, signature: signWebhook(webhookSecret, body, nowSeconds()) };
    return webhook(delivered.body, delivered.signature);
  }, [200]);
  add('webhook', 'the same delivery replayed', () => webhook(delivered!.body, delivered!.signature), [200, 404, 409], { mustNotWrite: true });
  add('webhook', 'the same event signed anew and replayed', () => webhook(delivered!.body, signWebhook(webhookSecret, delivered!.body, nowSeconds())), [200, 404, 409], { mustNotWrite: true });

  // Idempotency-Key misuse.
  const keyed = `misuse-${randomUUID()}`;
  add('idempotency', 'a key used for the first time (accepted)', () => place(aliceAuth, orderBody(), keyed), [202]);
  add('idempotency', 'the same key and body: the first answer again', () => place(aliceAuth, orderBody(), keyed), [202], { mustNotWrite: true });
  add('idempotency', 'the same key and body, keys in another order', () => ({ ...place(aliceAuth, orderBody(), keyed), body: json({ payment: orderBody().payment, shipping_address: shippingAddress, items: orderBody().items }) }), [202], { mustNotWrite: true });
  add('idempotency', 'the same key, another quantity', () => place(aliceAuth, { ...orderBody(), items: [{ product_id: product.productId, quantity: 2 }] }, keyed), [422]);
  add('idempotency', 'the same key, another card', () => place(aliceAuth, orderBody('tok_chargeDeclined'), keyed), [422]);
  add('idempotency', 'the same key, an invalid body', () => place(aliceAuth, { items: [] }, keyed), [400, 422]);
  add('idempotency', 'a key of 256 characters', () => place(aliceAuth, orderBody(), 'k'.repeat(256)), [400]);
  add('idempotency', 'an empty key', () => place(aliceAuth, orderBody(), ''), [202, 400]);
  const afterRefusal = `after-refusal-${randomUUID()}`;
  add('idempotency', 'a key whose first request was refused', () => place(aliceAuth, { ...orderBody(), items: [{ product_id: randomUUID(), quantity: 1 }] }, afterRefusal), [404]);
  add('idempotency', 'the same key then with a good body (accepted)', () => place(aliceAuth, orderBody(), afterRefusal), [202]);

  // Query parameters.
  for (const path of ['/api/v1/products', ORDERS]) {
    const headers = path === ORDERS ? { authorization: aliceAuth } : undefined;
    for (const query of ['limit=0', 'limit=-1', 'limit=101', 'limit=1.5', 'limit=abc', 'limit=', 'limit=1e2', 'limit=1&limit=2', 'limit=99999999999999999999', 'cursor=not-a-uuid', `cursor=${randomUUID()}`, 'x=1', '__proto__[admin]=1', 'constructor[prototype][admin]=1', 'limit[$gt]=1', '%zz=1', 'limit=%00']) {
      add('query', `${path}?${query}`, () => ({ method: 'GET', path: `${path}?${query}`, headers }), [200, 400]);
    }
  }
  for (const q of ['', '%20', 'x'.repeat(201), '%00', "'%3B%20DROP%20TABLE%20orders%3B--", '!!!', '%26%7C', ':*', '%22unclosed', '-', '----', '(((', 'a%20%26%20b%20%7C%20!c', '%5C', '%EF%BF%BF']) {
    add('query', `search q=${q.slice(0, 30)}`, () => ({ method: 'GET', path: `/api/v1/search?q=${q}` }), [200, 400]);
  }
  add('query', 'search with two q', () => ({ method: 'GET', path: '/api/v1/search?q=a&q=b' }), [200, 400]);
  for (const query of [
    'from=yesterday',
    'to=2026-13-45T25:61:61Z',
    'to=%2B275760-09-13T00:00:00.000Z',
    'to=0000-01-01T00:00:00Z',
    'from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z',
    'to=2026-01-01T00:00:00%2B99:99',
    'to=2026-01-01T00:00:00-23:59',
    'from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
    'from=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z',
    'to=9999-12-31T23:59:59.999999999Z',
  ]) {
    add('query', `admin stats ${query}`, () => ({ method: 'GET', path: `/api/v1/admin/stats?${query}`, headers: { authorization: adminAuth } }), [200, 400]);
  }
  for (const path of [`${ORDERS}/%E0%A4%A`, `${ORDERS}/%00`, '/api/v1/products/%ff', `${ORDERS}/${'9'.repeat(5_000)}`, `${ORDERS}/..%2F..%2Fadmin%2Fstats`, '/api/v1/cart/items/%2e%2e']) {
    add('query', `path ${path.slice(0, 50)}`, () => ({ method: path.includes('cart') ? 'DELETE' : 'GET', path, headers: { authorization: aliceAuth } }), [400, 404, 414]);
  }

  const findings: CaseFinding[] = [];
  const byGroup: Record<string, number> = {};
  for (const handCase of cases) {
    const request = await handCase.request();
    const name = `${handCase.group}: ${handCase.name}`;
    byGroup[handCase.group] = (byGroup[handCase.group] ?? 0) + 1;
    let answer: RawAnswer;
    try {
      answer = await recorder.observe(operationOf(request.method, request.path), name, () => rawRequest(apiUrl, request), {
        bodyOf: (a) => a.body.slice(0, 2_000),
        mustNotWrite: handCase.mustNotWrite,
      });
    } catch (error) {
      findings.push({ case: name, status: 0, problem: `not answered: ${(error as Error).message}` });
      continue;
    }
    if (!handCase.expect.includes(answer.status)) {
      findings.push({ case: name, status: answer.status, problem: `expected ${handCase.expect.join(' or ')}: ${answer.body.slice(0, 300)}` });
    }
    // CONTRACT §2: every error is a problem.
    if (answer.status >= 400 && !String(answer.headers['content-type']).startsWith('application/problem+json')) {
      findings.push({ case: name, status: answer.status, problem: `not a problem body: ${answer.headers['content-type']}` });
    }
    const wrong = handCase.check?.(answer);
    if (wrong) findings.push({ case: name, status: answer.status, problem: wrong });
  }
  await endWaitingOrder();
  return { cases: cases.length, byGroup, findings };
}
