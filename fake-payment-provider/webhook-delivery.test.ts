import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePaymentProvider } from './provider.js';
import { createFakeProviderServer } from './server.js';

// The provider's callback to a receiver that is not ready the first times (a payment it does not
// know yet: 404; an instance restarting: 503), as the chaos run met it: Stripe delivers the same
// event again with backoff until the receiver answers 2xx, and so must the fake.
let receiver: FastifyInstance;
let providerServer: FastifyInstance;
let providerUrl: string;
const answers = [404, 503, 200];
const deliveries: { id: string; answeredWith: number }[] = [];

beforeAll(async () => {
  receiver = Fastify();
  receiver.post('/webhook', async (request, reply) => {
    const answeredWith = answers[Math.min(deliveries.length, answers.length - 1)]!;
    deliveries.push({ id: (request.body as { id: string }).id, answeredWith });
    return reply.status(answeredWith).send({});
  });
  const receiverUrl = await receiver.listen({ host: '127.0.0.1', port: 0 });
  providerServer = createFakeProviderServer({
    provider: new FakePaymentProvider(),
    webhook: { url: `${receiverUrl}/webhook`, secret: 'whsec_test_only_0123456789', retryDelaysMs: [50, 100, 200] },
  });
  await providerServer.listen({ host: '127.0.0.1', port: 0 });
  providerUrl = `http://127.0.0.1:${(providerServer.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await providerServer?.close();
  await receiver?.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${providerUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return (await response.json()) as { id: string; status: string };
}

describe('the fake provider’s webhook', () => {
  it('is delivered again, the same event, until the receiver takes it', async () => {
    const charge = await post('/v1/charges', { amount: 1000, currency: 'USD', token: 'tok_threeDSecure', reference: 'order-1' }, { 'idempotency-key': 'order-1' });
    expect(charge.status).toBe('requires_action');

    expect((await post(`/v1/charges/${charge.id}/authenticate`, {})).status).toBe('succeeded');

    await expect.poll(() => deliveries.map((d) => d.answeredWith), { timeout: 5_000 }).toEqual([404, 503, 200]);
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(1);
  });
});
