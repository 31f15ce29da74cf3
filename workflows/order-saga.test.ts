import fs from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundle } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type OrderActivities } from '../activities/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider, testTokens } from '../fake-payment-provider/provider.js';
import type { OrderWithDetails } from '../domain/orders.js';
import { PaymentProviderUnavailableError } from '../domain/errors.js';
import type { PaymentProvider, ProviderCharge } from '../domain/payments/provider.js';
import { createStockedProduct, outboxEvents, placeOrder, refuseConfirming, type ProductFixture } from '../test/support/domain.js';
import { toolPaths } from '../stack/tools.js';
import { sagaInputFor, testConfig, uniqueName } from '../test/support/env.js';
import { bundleOrderWorkflows, createOrderWorker } from '../workers/order-worker.js';
import {
  cancelUpdate,
  orderWorkflowId,
  paymentConfirmedSignal,
  statusQuery,
  type OrderSagaResult,
} from './definitions.js';
import { OrderSaga } from './order-saga.js';
import { paymentPolicy } from './policies.js';
import { orderSearchAttributes } from './search-attributes.js';

const config = testConfig();
const prisma = createPrisma(config.postgres.url);
const provider = new FakePaymentProvider();
const realActivities = createActivities({ db: prisma, clock: systemClock, payments: provider });
const historiesDir = path.join(import.meta.dirname, 'histories');

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundle;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolPaths(config.stack.cacheDir).testServer } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      orderSearchAttributes.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]),
    ),
  });
  workflowBundle = await bundleOrderWorkflows();
});

afterAll(async () => {
  await env?.teardown();
  await prisma.$disconnect();
});

type StartSaga = (order: OrderWithDetails, token: string) => Promise<WorkflowHandle<typeof OrderSaga>>;

/** Runs `scenario` with an order worker on a task queue of its own; `start` begins a saga there. */
async function withWorker<T>(scenario: (start: StartSaga) => Promise<T>, overrides: Partial<OrderActivities> = {}): Promise<T> {
  const taskQueue = uniqueName('saga');
  const worker = await createOrderWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle,
    activities: { ...realActivities, ...overrides },
  });
  const start: StartSaga = (order, token) => {
    return env.client.workflow.start(OrderSaga, { taskQueue, workflowId: orderWorkflowId(order.id), args: [sagaInputFor(order, token)] });
  };
  return worker.runUntil(scenario(start));
}

/** Polls a saga's history until `seen` finds what the test waits for (what the worker has committed). */
async function untilHistory(handle: WorkflowHandle, seen: (event: temporal.api.history.v1.IHistoryEvent) => unknown): Promise<void> {
  await expect.poll(async () => (await handle.fetchHistory()).events?.some(seen), { timeout: 20_000, interval: 50 }).toBe(true);
}

/**
 * An activity that stops when it starts, until the test releases it: holds a saga at that step
 * (its history then ends with the activity scheduled), as a slow or retrying step would.
 */
function gate<K extends keyof OrderActivities>(name: K) {
  let arrive!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const real = realActivities[name] as (...args: unknown[]) => Promise<unknown>;
  const activity = (async (...args: unknown[]) => {
    arrive();
    await released;
    return real(...args);
  }) as OrderActivities[K];
  return { overrides: { [name]: activity } as Partial<OrderActivities>, arrived, release };
}

async function untilStatus(handle: WorkflowHandle<typeof OrderSaga>, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const state = await handle.query(statusQuery).catch(() => undefined);
    if (state?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the saga never reached ${status}`);
}

/** Commits a path's history as a replay fixture when UPDATE_HISTORIES=1 (see workflows/replay.test.ts). */
async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.UPDATE_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(historiesDir, { recursive: true });
  fs.writeFileSync(path.join(historiesDir, `${name}.json`), historyToJSON(history));
}

async function orderState(orderId: string) {
  const order = await prisma.order.findUniqueOrThrow({ where: { id: orderId }, include: { timeline: { orderBy: { id: 'asc' } } } });
  const reservation = await prisma.reservation.findUnique({ where: { orderId } });
  const payment = await prisma.payment.findFirst({ where: { orderId } });
  const events = (await outboxEvents(prisma, orderId)).map((e) => e.event_type);
  return { order, reservation, payment, events, timeline: order.timeline.map((t) => t.status) };
}

async function stockLeft(product: ProductFixture) {
  const rows = await prisma.stock.findMany({ where: { id: { in: product.stockIds } } });
  return { onHand: rows.reduce((s, r) => s + r.onHand, 0), reserved: rows.reduce((s, r) => s + r.reserved, 0) };
}

describe('OrderSaga', () => {
  it('confirms an order paid with tok_visa: stock committed, one charge, every event in order', async () => {
    const product = await createStockedProduct(prisma, { units: [5], price: '29.99' });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);

    const result = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      const outcome = await handle.result();
      await keepHistory('confirmed', handle);
      return outcome;
    });

    expect(result).toEqual<OrderSagaResult>({ orderId: order.id, status: 'confirmed' });
    const state = await orderState(order.id);
    expect(state.order.status).toBe('confirmed');
    expect(state.timeline).toEqual(['pending', 'inventory_reserved', 'confirmed']);
    expect(state.reservation?.status).toBe('committed');
    expect(state.payment).toMatchObject({ status: 'succeeded', amount: expect.objectContaining({}) });
    expect(state.payment?.amount.toFixed(2)).toBe('59.98');
    expect(provider.chargeCount(order.id)).toBe(1);
    expect(await stockLeft(product)).toEqual({ onHand: 3, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed']);
  });

  it.each([
    [testTokens.chargeDeclined, 'card_declined'],
    [testTokens.insufficientFunds, 'insufficient_funds'],
  ])('a %s card releases the reservation and fails the order with payment_declined', async (token, declineCode) => {
    const product = await createStockedProduct(prisma, { units: [4] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 3 }]);

    const result = await withWorker(async (start) => {
      const handle = await start(order, token);
      const outcome = await handle.result();
      if (token === testTokens.chargeDeclined) await keepHistory('payment-declined', handle);
      return outcome;
    });

    expect(result).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_declined' });
    const state = await orderState(order.id);
    expect(state.order).toMatchObject({ status: 'failed', failureReason: 'payment_declined' });
    expect(state.reservation?.status).toBe('released');
    expect(state.payment).toMatchObject({ status: 'failed', declineCode });
    expect(await stockLeft(product)).toEqual({ onHand: 4, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.failed', 'inventory.released', 'order.failed']);
  });

  it('fails an order it cannot stock with out_of_stock, without charging anything', async () => {
    const product = await createStockedProduct(prisma, { units: [1] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);

    const result = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      const outcome = await handle.result();
      await keepHistory('out-of-stock', handle);
      return outcome;
    });

    expect(result).toEqual({ orderId: order.id, status: 'failed', failureReason: 'out_of_stock' });
    const state = await orderState(order.id);
    expect(state.order).toMatchObject({ status: 'failed', failureReason: 'out_of_stock' });
    expect(state.reservation).toBeNull();
    expect(state.payment).toBeNull();
    expect(provider.chargeCount(order.id)).toBe(0);
    expect(await stockLeft(product)).toEqual({ onHand: 1, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reservation.failed', 'order.failed']);
  });

  it.each([testTokens.processingError, testTokens.timeout])(
    'retries a %s charge and charges it exactly once',
    async (token) => {
      const product = await createStockedProduct(prisma, { units: [2] });
      const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

      const result = await withWorker(async (start) => {
        const handle = await start(order, token);
        const outcome = await handle.result();
        const attempts = (await handle.fetchHistory()).events
          ?.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
        await keepHistory(token === testTokens.timeout ? 'payment-timeout-retried' : 'payment-processing-error-retried', handle);
        return { outcome, attempts };
      });

      expect(result.outcome.status).toBe('confirmed');
      // The charge activity ran more than once: the retries are Temporal's.
      expect(Math.max(...(result.attempts ?? [1]))).toBeGreaterThan(1);
      expect(provider.chargeCount(order.id)).toBe(1);
      const state = await orderState(order.id);
      expect(state.payment?.status).toBe('succeeded');
      expect(state.events.filter((e) => e === 'payment.success')).toHaveLength(1);
    },
    90_000,
  );

  it('waits for 3-D Secure and confirms when the webhook signals the payment', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const result = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilStatus(handle, 'awaiting_payment');
      expect((await orderState(order.id)).order.status).toBe('awaiting_payment');
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      provider.completeAuthentication(payment.providerPaymentId);
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      const outcome = await handle.result();
      await keepHistory('three-d-secure-confirmed', handle);
      return outcome;
    });

    expect(result.status).toBe('confirmed');
    const state = await orderState(order.id);
    expect(state.timeline).toEqual(['pending', 'inventory_reserved', 'awaiting_payment', 'confirmed']);
    expect(state.payment?.status).toBe('succeeded');
    expect(state.reservation?.status).toBe('committed');
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed']);
  });

  it('keeps waiting when the webhook comes before the customer has authenticated, then confirms', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const result = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilStatus(handle, 'awaiting_payment');
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      // The provider still waits for the customer: the completion fails as pending, after its retries.
      await expect
        .poll(async () => (await handle.fetchHistory()).events?.some((e) => e.activityTaskFailedEventAttributes), { timeout: 20_000 })
        .toBe(true);
      expect((await handle.query(statusQuery)).status).toBe('awaiting_payment');
      provider.completeAuthentication(payment.providerPaymentId);
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      const outcome = await handle.result();
      await keepHistory('three-d-secure-early-webhook', handle);
      return outcome;
    });

    expect(result.status).toBe('confirmed');
    const state = await orderState(order.id);
    expect(state.payment?.status).toBe('succeeded');
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed']);
  }, 60_000);

  it('voids the payment, releases the stock and fails with payment_timeout when 3-D Secure never completes', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const { outcome, waited } = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilStatus(handle, 'awaiting_payment');
      const before = await env.currentTimeMs();
      const outcome = await handle.result();
      const waited = (await env.currentTimeMs()) - before;
      await keepHistory('three-d-secure-timeout', handle);
      return { outcome, waited };
    });

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_timeout' });
    expect(waited).toBeGreaterThanOrEqual(14 * 60_000);
    const state = await orderState(order.id);
    expect(state.order).toMatchObject({ status: 'failed', failureReason: 'payment_timeout' });
    expect(state.payment?.status).toBe('voided');
    expect(state.reservation?.status).toBe('released');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'inventory.released', 'order.failed']);
  });

  it('cancels an order awaiting payment: voids the payment, releases the stock, order cancelled', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilStatus(handle, 'awaiting_payment');
      expect(await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'changed my mind' }] })).toEqual({ status: 'awaiting_payment' });
      const result = await handle.result();
      await keepHistory('cancelled-awaiting-payment', handle);
      return result;
    });

    expect(outcome).toEqual({ orderId: order.id, status: 'cancelled' });
    const state = await orderState(order.id);
    expect(state.order.status).toBe('cancelled');
    expect(state.payment?.status).toBe('voided');
    expect(state.reservation?.status).toBe('released');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'inventory.released', 'order.cancelled']);
  });

  it('refuses a cancel after confirmation: the order stays confirmed', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const cancelAfter = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await handle.result();
      return handle.executeUpdate(cancelUpdate, { args: [{ reason: 'too late' }] }).then(
        () => 'accepted',
        (error: Error) => error.message,
      );
    });

    expect(cancelAfter).toMatch(/completed|not found/i);
    const state = await orderState(order.id);
    expect(state.order.status).toBe('confirmed');
    expect(state.events).not.toContain('order.cancelled');
  });

  it('fails loudly and says what was left undone when a compensation fails for good', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    let releaseAttempts = 0;
    const brokenRelease = async () => {
      releaseAttempts += 1;
      throw ApplicationFailure.nonRetryable('the reservation is in a state no retry can change', 'IllegalTransition');
    };

    const failure = await withWorker(
      async (start) => {
        const handle = await start(order, testTokens.chargeDeclined);
        const error = await handle.result().then(() => undefined, (e: unknown) => e);
        const state = await handle.query(statusQuery);
        await keepHistory('compensation-failed', handle);
        return { error, state };
      },
      { releaseReservation: brokenRelease },
    );

    expect(failure.error).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure.error as WorkflowFailedError).cause as Error & { type?: string };
    expect(cause.type).toBe('CompensationFailed');
    expect(cause.message).toContain('releaseReservation');
    expect(failure.state.uncompensated).toEqual(['releaseReservation']);
    expect(failure.state.compensated).toEqual(['reversePayment']);
    expect(releaseAttempts).toBe(1);
    const state = await orderState(order.id);
    expect(state.order).toMatchObject({ status: 'failed', failureReason: 'payment_declined' });
    // What was left undone is still there to see and repair: the stock stays reserved.
    expect(state.reservation?.status).toBe('active');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 1 });
  });
  it('retries a refund for as long as the payment provider is down, then fails the order with the charge refunded and the stock released', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const outage = new RefundOutage(provider, OUTAGE_MS, () => env.currentTimeMs());

    const { error, state } = await refuseConfirming(order.id, () =>
      withWorker(
        async (start) => {
          const handle = await start(order, testTokens.visa);
          const error = await handle.result().then(() => undefined, (e: unknown) => e);
          return { error, state: await handle.query(statusQuery) };
        },
        { reversePayment: createActivities({ db: prisma, clock: systemClock, payments: outage }).reversePayment },
      ),
    );

    // The saga failed on the confirm, and undid everything, however long the refund took.
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(((error as WorkflowFailedError).cause as Error & { type?: string }).type).not.toBe('CompensationFailed');
    expect(state).toMatchObject({ status: 'failed', compensated: ['reversePayment', 'releaseReservation'], uncompensated: [] });
    // The refund that succeeded came after more attempts than the ten compensations once had.
    expect(outage.failedAttempts + 1).toBeGreaterThan(10);
    expect(outage.lastRefundAt! - outage.firstRefundAt!).toBeGreaterThanOrEqual(OUTAGE_MS);
    const after = await orderState(order.id);
    expect(after.order).toMatchObject({ status: 'failed', failureReason: 'processing_error' });
    expect(after.payment?.status).toBe('refunded');
    expect(after.reservation?.status).toBe('released');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
    expect(after.events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'payment.refunded', 'inventory.released', 'order.failed']);
  }, 60_000);
});

/** Five minutes: far longer than compensations were once retried for (ten attempts, about a minute and a half). */
const OUTAGE_MS = 5 * 60_000;

/** The payment provider, unable to refund for `outageMs` from the first refund it is asked for (on the test server's clock). */
class RefundOutage implements PaymentProvider {
  readonly name: string;
  failedAttempts = 0;
  firstRefundAt?: number;
  lastRefundAt?: number;

  constructor(
    private readonly provider: FakePaymentProvider,
    private readonly outageMs: number,
    private readonly now: () => Promise<number>,
  ) {
    this.name = provider.name;
  }

  async refund(request: { chargeId: string; idempotencyKey: string }): Promise<ProviderCharge> {
    const now = await this.now();
    this.firstRefundAt ??= now;
    this.lastRefundAt = now;
    if (now - this.firstRefundAt < this.outageMs) {
      this.failedAttempts += 1;
      throw new PaymentProviderUnavailableError('the payment provider is down for maintenance');
    }
    return this.provider.refund(request);
  }

  charge: PaymentProvider['charge'] = (request, options) => this.provider.charge(request, options);
  cancel: PaymentProvider['cancel'] = (request) => this.provider.cancel(request);
  retrieve: PaymentProvider['retrieve'] = (chargeId) => this.provider.retrieve(chargeId);
  findByReference: PaymentProvider['findByReference'] = (reference) => this.provider.findByReference(reference);
}

/** Activities that pay through another fake provider (one the test gave a behaviour of its own). */
function payingThrough(payments: FakePaymentProvider): OrderActivities {
  return createActivities({ db: prisma, clock: systemClock, payments });
}

/** What the customer was charged in the end, as the provider has it (refunded and voided charges count nothing). */
function netCharged(payments: FakePaymentProvider, orderId: string): number {
  return payments.chargesFor(orderId).reduce((sum, charge) => sum + (charge.status === 'succeeded' ? charge.amount : 0), 0);
}

describe('a 3-D Secure payment the customer completed, whatever our own row says', () => {
  it('is confirmed when the webhook never comes: the saga asks the provider before it gives up', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      provider.completeAuthentication(payment.providerPaymentId);
      const outcome = await handle.result().catch((error: unknown) => error);
      await keepHistory('three-d-secure-confirmed-at-deadline', handle);
      return outcome;
    });

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
    expect((await orderState(order.id)).payment?.status).toBe('succeeded');
    expect(netCharged(provider, order.id)).toBe(1000);
    expect(await stockLeft(product)).toEqual({ onHand: 1, reserved: 0 });
  });

  it('is refunded, not voided, when the customer completes it as the saga gives up on it', async () => {
    // The customer's authentication reaches the provider just before the saga's void.
    class CustomerFirst extends FakePaymentProvider {
      override async cancel(request: { chargeId: string; idempotencyKey: string }) {
        this.completeAuthentication(request.chargeId);
        return super.cancel(request);
      }
    }
    const customerFirst = new CustomerFirst();
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      const outcome = await handle.result().catch((error: unknown) => error);
      await keepHistory('three-d-secure-refunded-at-deadline', handle);
      return outcome;
    }, payingThrough(customerFirst));

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_timeout' });
    const state = await orderState(order.id);
    expect(state.payment?.status).toBe('refunded');
    expect(customerFirst.chargesFor(order.id).map((c) => c.status)).toEqual(['refunded']);
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'payment.refunded', 'inventory.released', 'order.failed']);
  });

  it('is refunded when completing it on our side keeps failing after the customer authenticated', async () => {
    // The provider cannot be asked about the charge for a while: long enough for completePayment's attempts.
    class Unreachable extends FakePaymentProvider {
      outages = 0;
      override async retrieve(chargeId: string) {
        if (this.outages > 0) {
          this.outages -= 1;
          throw new PaymentProviderUnavailableError('the payment provider does not answer');
        }
        return super.retrieve(chargeId);
      }
    }
    const unreachable = new Unreachable();
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      unreachable.completeAuthentication(payment.providerPaymentId);
      unreachable.outages = 3;
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      return handle.result().catch((error: unknown) => error);
    }, payingThrough(unreachable));

    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(((outcome as WorkflowFailedError).cause as Error & { type?: string }).type).not.toBe('CompensationFailed');
    const state = await orderState(order.id);
    expect(state.order).toMatchObject({ status: 'failed', failureReason: 'processing_error' });
    expect(state.payment?.status).toBe('refunded');
    expect(netCharged(unreachable, order.id)).toBe(0);
  }, 30_000);
});

describe('cancelling a saga', () => {
  it('refuses a cancel once the order is being confirmed, and confirms it', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const confirming = gate('confirmOrder');

    const { outcome, refusal } = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await confirming.arrived;
      const refusal = await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'too late' }] }).then(() => undefined, (error: unknown) => error);
      confirming.release();
      return { outcome: await handle.result(), refusal };
    }, confirming.overrides);

    expect(refusal).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refusal as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'NotCancellable', details: ['confirming'] });
    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
    expect((await orderState(order.id)).events).not.toContain('order.cancelled');
  });

  it('ends the order cancelled when a cancel was accepted before the card was declined', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const charging = gate('chargePayment');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.chargeDeclined);
      await charging.arrived;
      expect(await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'changed my mind' }] })).toEqual({ status: 'inventory_reserved' });
      charging.release();
      const outcome = await handle.result();
      await keepHistory('cancelled-while-charging', handle);
      return outcome;
    }, charging.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'cancelled' });
    const state = await orderState(order.id);
    expect(state.order.status).toBe('cancelled');
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'payment.failed', 'inventory.released', 'order.cancelled']);
  });

  it('through Temporal (the Web UI\'s Cancel) while awaiting 3-D Secure: order cancelled, everything undone', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      await handle.cancel();
      const outcome = await handle.result().catch((error: unknown) => error);
      await keepHistory('cancelled-through-temporal', handle);
      return { outcome, state: await handle.query(statusQuery) };
    });

    expect((outcome.outcome as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(outcome.state).toMatchObject({ status: 'cancelled', compensated: ['reversePayment', 'releaseReservation'], uncompensated: [] });
    const state = await orderState(order.id);
    expect(state.timeline.at(-1)).toBe('cancelled');
    expect(state.payment?.status).toBe('voided');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
    expect(state.events).toEqual(['order.created', 'inventory.reserved', 'inventory.released', 'order.cancelled']);
  });

  it('through Temporal while the card is being charged: waits for the charge, then refunds it', async () => {
    // The provider takes a while to answer; the charge lands after the saga was asked to cancel.
    let charging!: () => void;
    const chargeStarted = new Promise<void>((resolve) => (charging = resolve));
    class SlowProvider extends FakePaymentProvider {
      override async charge(...args: Parameters<FakePaymentProvider['charge']>) {
        charging();
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        return super.charge(...args);
      }
    }
    const slow = new SlowProvider();
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await chargeStarted;
      await handle.cancel();
      const outcome = await handle.result().catch((error: unknown) => error);
      // The charge activity's own end, which a saga that did not wait for it would not see.
      await expect.poll(() => prisma.payment.count({ where: { orderId: order.id } }), { timeout: 10_000 }).toBe(1);
      await keepHistory('cancelled-through-temporal-while-charging', handle);
      return outcome;
    }, payingThrough(slow));

    expect((outcome as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(slow.chargesFor(order.id).map((c) => c.status)).toEqual(['refunded']);
    const state = await orderState(order.id);
    expect(state.order.status).toBe('cancelled');
    expect(state.payment?.status).toBe('refunded');
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
  });

  it('through Temporal while the order is being confirmed: the order is confirmed, nothing undone', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const confirming = gate('confirmOrder');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await confirming.arrived;
      await handle.cancel();
      await untilHistory(handle, (e) => e.workflowExecutionCancelRequestedEventAttributes);
      confirming.release();
      const outcome = await handle.result().catch((error: unknown) => error);
      await keepHistory('confirmed-while-cancelled-through-temporal', handle);
      return outcome;
    }, confirming.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
    const state = await orderState(order.id);
    expect(state.order.status).toBe('confirmed');
    expect(state.payment?.status).toBe('succeeded');
    expect(await stockLeft(product)).toEqual({ onHand: 1, reserved: 0 });
  });
});

describe('the payment webhook', () => {
  it('is acted on when it comes while the provider still answers "pending" to an earlier one', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    let handle: WorkflowHandle | undefined;
    // As the provider's last "still pending" answer to an early webhook goes back to the saga, the
    // customer authenticates and the genuine webhook comes.
    const completePayment: OrderActivities['completePayment'] = async (context) => {
      try {
        return await realActivities.completePayment(context);
      } catch (error) {
        if (Context.current().info.attempt === paymentPolicy.retry?.maximumAttempts) {
          const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
          provider.completeAuthentication(payment.providerPaymentId);
          await handle!.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
        }
        throw error;
      }
    };

    const { outcome, events } = await withWorker(async (start) => {
      handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      const outcome = await handle.result().catch((error: unknown) => error);
      await keepHistory('three-d-secure-webhook-during-pending-answer', handle);
      return { outcome, events: (await handle.fetchHistory()).events ?? [] };
    }, { completePayment });

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
    // Confirmed on the genuine webhook, not when the 3-D Secure deadline came.
    expect(events.some((e) => e.timerFiredEventAttributes)).toBe(false);
  }, 30_000);
});

// Each saga below is held at one of the points where a saga waits (for the customer, for a step,
// for a compensation): its history there is what a running saga leaves to the next release, which
// must replay it (workflows/replay.test.ts). The saga then finishes, as it would on that release.
describe('a saga held at a wait point', () => {
  it('awaiting 3-D Secure, holds the stock until the deadline', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      expect((await handle.query(statusQuery)).status).toBe('awaiting_payment');
      expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 1 });
      await keepHistory('open-awaiting-payment', handle);
      return handle.result();
    });

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_timeout' });
  });

  it('awaiting 3-D Secure again after a webhook ahead of the customer', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      await expect
        .poll(async () => (await handle.fetchHistory()).events?.filter((e) => e.timerStartedEventAttributes).length, { timeout: 20_000 })
        .toBe(2);
      expect((await handle.query(statusQuery)).status).toBe('awaiting_payment');
      await keepHistory('open-awaiting-payment-after-early-webhook', handle);
      return handle.result();
    });

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_timeout' });
  }, 30_000);

  it('completing a 3-D Secure payment after the webhook', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const completing = gate('completePayment');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const payment = await prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
      provider.completeAuthentication(payment.providerPaymentId);
      await handle.signal(paymentConfirmedSignal, { providerPaymentId: payment.providerPaymentId, succeeded: true });
      await completing.arrived;
      await keepHistory('open-completing-payment', handle);
      completing.release();
      return handle.result();
    }, completing.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
  });

  it('charging the card', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const charging = gate('chargePayment');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await charging.arrived;
      expect(provider.chargeCount(order.id)).toBe(0);
      await keepHistory('open-charging', handle);
      charging.release();
      return handle.result();
    }, charging.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
    expect(provider.chargeCount(order.id)).toBe(1);
  });

  it('confirming the order', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const confirming = gate('confirmOrder');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.visa);
      await confirming.arrived;
      expect((await orderState(order.id)).payment?.status).toBe('succeeded');
      await keepHistory('open-confirming', handle);
      confirming.release();
      return handle.result();
    }, confirming.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'confirmed' });
  });

  it('compensating a declined payment', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const releasing = gate('releaseReservation');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.chargeDeclined);
      await releasing.arrived;
      expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 1 });
      await keepHistory('open-compensating-declined', handle);
      releasing.release();
      return handle.result();
    }, releasing.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_declined' });
    expect(await stockLeft(product)).toEqual({ onHand: 2, reserved: 0 });
  });

  it('compensating a cancel of an order awaiting 3-D Secure', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const reversing = gate('reversePayment');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'changed my mind' }] });
      await reversing.arrived;
      await keepHistory('open-compensating-cancel', handle);
      reversing.release();
      return handle.result();
    }, reversing.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'cancelled' });
    expect((await orderState(order.id)).payment?.status).toBe('voided');
  });

  it('compensating a 3-D Secure payment that timed out', async () => {
    const product = await createStockedProduct(prisma, { units: [2] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const reversing = gate('reversePayment');

    const outcome = await withWorker(async (start) => {
      const handle = await start(order, testTokens.threeDSecure);
      await untilHistory(handle, (e) => e.timerStartedEventAttributes);
      const result = handle.result();
      await reversing.arrived;
      await keepHistory('open-compensating-payment-timeout', handle);
      reversing.release();
      return result;
    }, reversing.overrides);

    expect(outcome).toEqual({ orderId: order.id, status: 'failed', failureReason: 'payment_timeout' });
    expect((await orderState(order.id)).payment?.status).toBe('voided');
  });
});
