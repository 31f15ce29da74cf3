import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { createFakeProviderServer } from '../fake-payment-provider/server.js';
import { testConfig, uniqueName } from '../test/support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../test/support/worker.js';
import { newUser, orderBody, seedProduct, startApi, type TestApi } from '../test/support/api.js';
import { orderWorkflowId, type OrderSagaResult } from '../workflows/definitions.js';

// Cancels sent as customers send them, at the moment something else happens to the order: over
// HTTP to the API, whose sagas run on an order worker of this file against the real Temporal
// server and PostgreSQL; the customer's 3-D Secure goes through the fake provider's own HTTP API,
// which calls the API's webhook, as the real provider would.
const taskQueue = uniqueName('api-cancel');
const provider = new FakePaymentProvider();
let providerServer: FastifyInstance | undefined;
let providerUrl: string;
let api: TestApi;
let worker: RunningTestWorker;

beforeAll(async () => {
  api = await startApi({ taskQueue });
  const apiUrl = await api.app.listen({ host: '127.0.0.1', port: 0 });
  providerServer = createFakeProviderServer({
    provider,
    webhook: { url: `${apiUrl}/api/v1/payments/webhook`, secret: api.config.paymentWebhook.secret },
  });
  await providerServer.listen({ host: '127.0.0.1', port: 0 });
  providerUrl = `http://127.0.0.1:${(providerServer.server.address() as AddressInfo).port}`;
  worker = await startTestOrderWorker({ config: testConfig(), taskQueue, db: api.prisma, payments: provider });
});

afterAll(async () => {
  await worker?.stop();
  await providerServer?.close();
  await api?.close();
});

const PRICE = 20;

async function placeOrder(authorization: string, productId: string, token: string): Promise<string> {
  const res = await api.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { authorization }, payload: orderBody(productId, { token, quantity: 1 }) });
  expect(res.statusCode).toBe(202);
  return res.json().order_id;
}

function cancel(authorization: string, orderId: string) {
  return api.app.inject({ method: 'POST', url: `/api/v1/orders/${orderId}/cancel`, headers: { authorization } });
}

/** How the order's saga ended (it throws when the saga failed, e.g. with CompensationFailed). */
function sagaOutcome(orderId: string): Promise<OrderSagaResult> {
  return api.temporal.workflow.getHandle(orderWorkflowId(orderId)).result();
}

/** What the customer was charged in the end, as the provider has it, in minor units. */
function netCharged(orderId: string): number {
  return provider.chargesFor(orderId).reduce((sum, charge) => sum + (charge.status === 'succeeded' ? charge.amount : 0), 0);
}

/** The stock an order holds in the end: `committed` (shipped), or `none` (released, or never reserved). */
async function stockHeldFor(orderId: string): Promise<string> {
  const status = (await api.prisma.reservation.findUnique({ where: { orderId } }))?.status;
  return status === 'committed' || status === 'active' ? status : 'none';
}

describe('POST /api/v1/orders/{id}/cancel, at the moment', () => {
  it('the customer completes 3-D Secure: a cancelled order is never left charged', async () => {
    const { authorization } = await newUser(api.config);
    const { productId } = await seedProduct(api.prisma, { price: `${PRICE}.00`, stock: 10 });
    const orderIds = await Promise.all(Array.from({ length: 5 }, () => placeOrder(authorization, productId, 'tok_threeDSecure')));
    await Promise.all(
      orderIds.map((orderId) => expect.poll(() => api.prisma.order.findUnique({ where: { id: orderId } }).then((o) => o?.status), { timeout: 30_000 }).toBe('awaiting_payment')),
    );

    const outcomes = await Promise.all(
      orderIds.map(async (orderId) => {
        const [charge] = provider.chargesFor(orderId);
        const [cancelled] = await Promise.all([
          cancel(authorization, orderId),
          fetch(`${providerUrl}/v1/charges/${charge!.id}/authenticate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
        ]);
        const saga = await sagaOutcome(orderId).catch((error: Error) => error.message);
        return { orderId, answer: cancelled.statusCode, saga, charged: netCharged(orderId), stock: await stockHeldFor(orderId) };
      }),
    );

    for (const { orderId, ...outcome } of outcomes) {
      const expected =
        outcome.answer === 202
          ? { answer: 202, saga: { orderId, status: 'cancelled' }, charged: 0, stock: 'none' }
          : { answer: 409, saga: { orderId, status: 'confirmed' }, charged: PRICE * 100, stock: 'committed' };
      expect(outcome).toEqual(expected);
    }
  }, 60_000);

  it('the saga confirms the order: every 202 ends cancelled with nothing charged, every 409 ends confirmed', async () => {
    const { authorization } = await newUser(api.config);
    const { productId, variantId } = await seedProduct(api.prisma, { price: `${PRICE}.00`, stock: 100 });
    // Cancels sent from the moment the order is accepted to well after a saga usually ends.
    const delays = Array.from({ length: 20 }, (_, i) => i * 40);

    // One after the other, so that each saga runs about as fast as alone; the outcomes are awaited at the end.
    const answered = [];
    for (const delay of delays) {
      const orderId = await placeOrder(authorization, productId, 'tok_visa');
      await new Promise((resolve) => setTimeout(resolve, delay));
      answered.push({ orderId, delay, answer: (await cancel(authorization, orderId)).statusCode });
    }
    const outcomes = await Promise.all(
      answered.map(async ({ orderId, delay, answer }) => {
        const saga = await sagaOutcome(orderId).catch((error: Error) => error.message);
        return { orderId, delay, answer, saga, charged: netCharged(orderId), stock: await stockHeldFor(orderId) };
      }),
    );
    for (const { orderId, delay, ...outcome } of outcomes) {
      const expected =
        outcome.answer === 202
          ? { answer: 202, saga: { orderId, status: 'cancelled' }, charged: 0, stock: 'none' }
          : { answer: 409, saga: { orderId, status: 'confirmed' }, charged: PRICE * 100, stock: 'committed' };
      expect({ delay, ...outcome }).toEqual({ delay, ...expected });
    }
    const confirmed = outcomes.filter((o) => o.answer === 409).length;
    const stock = await api.prisma.stock.findFirstOrThrow({ where: { variantId } });
    expect({ onHand: stock.onHand, reserved: stock.reserved }).toEqual({ onHand: 100 - confirmed, reserved: 0 });
  }, 60_000);
});
