import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { testConfig, uniqueName } from '../test/support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../test/support/worker.js';
import { newUser, orderBody, seedProduct, startApi, type TestApi } from '../test/support/api.js';
import { SIGNATURE_HEADER, signWebhook } from '../domain/payments/webhook-signature.js';

// The whole path over HTTP: the API starts each saga on a task queue that an order worker of this
// file polls, against the real Temporal server and PostgreSQL; only the payment provider is fake.
const taskQueue = uniqueName('api-saga');
const provider = new FakePaymentProvider();
let api: TestApi;
let worker: RunningTestWorker;

beforeAll(async () => {
  const config = testConfig();
  api = await startApi({ taskQueue });
  worker = await startTestOrderWorker({ config, taskQueue, db: api.prisma, payments: provider });
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

async function placeOrder(token: string) {
  const user = await newUser(api.config);
  const { productId } = await seedProduct(api.prisma, { price: '20.00', stock: 10 });
  const res = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization: user.authorization }, payload: orderBody(productId, { token, quantity: 2 }) });
  expect(res.statusCode).toBe(202);
  const orderId: string = res.json().order_id;
  const read = async () => (await api.app.inject({ method: 'GET', url: `/api/v1/orders/${orderId}`, headers: { authorization: user.authorization } })).json();
  const untilStatus = (status: string) => expect.poll(async () => (await read()).status, { timeout: 30_000, interval: 200 }).toBe(status);
  return { ...user, orderId, read, untilStatus };
}

function webhook(payload: string, headers: Record<string, string>) {
  return api.app.inject({ method: 'POST', url: '/api/v1/payments/webhook', headers: { 'content-type': 'application/json', ...headers }, payload });
}

function signed(payload: string, options: { secret?: string; at?: number } = {}) {
  const at = options.at ?? Math.floor(Date.now() / 1000);
  return { [SIGNATURE_HEADER]: signWebhook(options.secret ?? api.config.paymentWebhook.secret, payload, at) };
}

async function chargeOf(orderId: string): Promise<string> {
  const payment = await api.prisma.payment.findFirstOrThrow({ where: { orderId } });
  return payment.providerPaymentId;
}

describe('an order placed over HTTP', () => {
  it('with tok_visa is confirmed when polled, with the payment and the timeline of its statuses', async () => {
    const order = await placeOrder('tok_visa');
    await order.untilStatus('confirmed');
    const body = await order.read();
    expect(body).toMatchObject({ status: 'confirmed', failure_reason: null, total: 40, payment: { status: 'succeeded', amount: 40, currency: 'USD', method: 'credit_card' } });
    expect(body.timeline.map((t: { status: string }) => t.status)).toEqual(['pending', 'inventory_reserved', 'confirmed']);

    const cancel = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order.orderId}/cancel`, headers: { authorization: order.authorization } });
    expect(cancel.statusCode).toBe(409);
  });

  it('with a declined card is failed with the reason, and its payment shows the decline', async () => {
    const order = await placeOrder('tok_chargeDeclined');
    await order.untilStatus('failed');
    const body = await order.read();
    expect(body.failure_reason).toBe('payment_declined');
    expect(body.payment).toMatchObject({ status: 'failed', decline_code: expect.any(String) });
    expect(body.timeline.at(-1)).toMatchObject({ status: 'failed', reason: 'payment_declined' });
  });

  it('is cancelled by POST /cancel while it waits for 3-D Secure', async () => {
    const order = await placeOrder('tok_threeDSecure');
    await order.untilStatus('awaiting_payment');
    const cancel = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order.orderId}/cancel`, headers: { authorization: order.authorization } });
    expect(cancel.statusCode).toBe(202);
    await order.untilStatus('cancelled');
    const again = await api.app.inject({ method: 'POST', url: `/api/v1/orders/${order.orderId}/cancel`, headers: { authorization: order.authorization } });
    expect(again.statusCode).toBe(409);
  });
});

describe('POST /api/v1/payments/webhook', () => {
  it('completes a 3-D Secure payment: a signed callback signals the saga, which confirms the order', async () => {
    const order = await placeOrder('tok_threeDSecure');
    await order.untilStatus('awaiting_payment');
    const chargeId = await chargeOf(order.orderId);
    provider.completeAuthentication(chargeId, 'succeeded');

    const payload = JSON.stringify({ id: 'evt_1', type: 'charge.succeeded', created: 1, data: { object: { id: chargeId, status: 'succeeded' } } });
    const res = await webhook(payload, signed(payload));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true });
    await order.untilStatus('confirmed');
  });

  it('refuses a tampered, unsigned, wrongly signed or stale callback with 400, and the saga hears nothing', async () => {
    const order = await placeOrder('tok_threeDSecure');
    await order.untilStatus('awaiting_payment');
    const chargeId = await chargeOf(order.orderId);
    const original = JSON.stringify({ id: 'evt_2', type: 'charge.failed', data: { object: { id: chargeId } } });
    const tampered = original.replace('charge.failed', 'charge.succeeded');

    const attempts = [
      await webhook(tampered, signed(original)),
      await webhook(original, {}),
      await webhook(original, signed(original, { secret: 'whsec_someone_else_entirely' })),
      await webhook(original, signed(original, { at: Math.floor(Date.now() / 1000) - 3600 })),
      await webhook(original, { [SIGNATURE_HEADER]: 'v1=deadbeef' }),
    ];
    for (const res of attempts) {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ status: 400, type: 'urn:order-saga:problem:invalid-signature' });
    }
    const history = await api.temporal.workflow.getHandle(`order-${order.orderId}`).fetchHistory();
    expect(history.events?.some((e) => e.workflowExecutionSignaledEventAttributes)).toBe(false);
    expect((await order.read()).status).toBe('awaiting_payment');
  });

  it('answers 404 for a payment it does not know, so the provider delivers it again later', async () => {
    const payload = JSON.stringify({ id: 'evt_3', type: 'charge.succeeded', data: { object: { id: 'ch_unknown' } } });
    const res = await webhook(payload, signed(payload));
    expect(res.statusCode).toBe(404);
  });

  it('acknowledges event types it does not act on', async () => {
    const payload = JSON.stringify({ id: 'evt_4', type: 'charge.refunded', data: { object: { id: 'ch_whatever' } } });
    expect((await webhook(payload, signed(payload))).statusCode).toBe(200);
  });
});
