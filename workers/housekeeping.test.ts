import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { reserveInventory } from '../domain/inventory.js';
import { transitionOrder, type OrderWithDetails } from '../domain/orders.js';
import { FakePaymentProvider, testTokens } from '../fake-payment-provider/provider.js';
import { type PrismaClient } from '../generated/prisma/client.js';
import { sagaInput } from '../test/support/api.js';
import { createStockedProduct, outboxEvents, placeOrder } from '../test/support/domain.js';
import { createScratchDatabase, sagaInputFor, testConfig, uniqueName } from '../test/support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../test/support/worker.js';
import { cancelSignal, orderSagaType, orderWorkflowId, statusQuery, type HousekeepingReport } from '../workflows/definitions.js';
import { orderSagaInput } from '../workflows/saga-start.js';
import { ensureHousekeepingSchedule, housekeepingScheduleId } from './housekeeping-schedule.js';

// The housekeeping scans whole tables, so this file has a database of its own; it runs on the dev
// server (schedules), with an order worker of its own on its own task queue.
const config = testConfig();
const taskQueue = uniqueName('housekeeping');
const provider = new FakePaymentProvider();
const GRACE_MS = config.worker.housekeeping.pendingGraceMs;
let database: Awaited<ReturnType<typeof createScratchDatabase>>;
let prisma: PrismaClient;
let worker: RunningTestWorker;
let client: Client;

beforeAll(async () => {
  database = await createScratchDatabase();
  prisma = createPrisma(database.url);
  worker = await startTestOrderWorker({ config, taskQueue, db: prisma, payments: provider });
  client = worker.client;
});

afterAll(async () => {
  await client?.schedule.getHandle(housekeepingScheduleId(taskQueue)).delete().catch(() => undefined);
  await worker?.stop();
  await prisma?.$disconnect();
  await database?.drop();
});

/** What the worker does when it starts (idempotent), then one run of the schedule, now rather than in a minute. */
async function runHousekeeping(): Promise<HousekeepingReport> {
  const schedule = client.schedule.getHandle(await ensureHousekeepingSchedule(client, { taskQueue, intervalSeconds: 3_600 }));
  const taken = (await schedule.describe()).info.numActionsTaken;
  await schedule.trigger();
  await expect.poll(async () => (await schedule.describe()).info.numActionsTaken, { timeout: 10_000, interval: 100 }).toBeGreaterThan(taken);
  const run = (await schedule.describe()).info.recentActions.at(-1)!;
  return client.workflow.getHandle<() => Promise<HousekeepingReport>>(run.action.workflow.workflowId).result();
}

/** An order written as the API writes it, whose request then died: pending, no saga, placed `agoMs` ago. */
async function orderLeftPending(productId: string, agoMs: number): Promise<OrderWithDetails> {
  const order = await placeOrder(prisma, systemClock, [{ productId }]);
  const createdAt = new Date(Date.now() - agoMs);
  await prisma.order.update({ where: { id: order.id }, data: { createdAt } });
  return { ...order, createdAt };
}

async function sagaExists(orderId: string): Promise<boolean> {
  return client.workflow
    .getHandle(orderWorkflowId(orderId))
    .describe()
    .then(
      () => true,
      (error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      },
    );
}

describe('the housekeeping schedule', () => {
  it('starts the saga of an order left pending without one, which then decides it; an order just placed is left to its request', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const stranded = await orderLeftPending(product.productId, GRACE_MS + 60_000);
    const fresh = await orderLeftPending(product.productId, 0);

    const report = await runHousekeeping();

    expect(report).toEqual({ sagasStarted: [stranded.id], ordersFailed: [], reservationsExpired: [] });
    const saga = client.workflow.getHandle(orderWorkflowId(stranded.id));
    expect(await saga.result()).toEqual({ orderId: stranded.id, status: 'confirmed' });
    expect(await sagaInput(client, saga.workflowId)).toEqual(orderSagaInput(stranded));
    expect(provider.chargeCount(stranded.id)).toBe(1);
    expect((await prisma.order.findUniqueOrThrow({ where: { id: stranded.id } })).status).toBe('confirmed');
    expect(await sagaExists(fresh.id)).toBe(false);
    expect((await prisma.order.findUniqueOrThrow({ where: { id: fresh.id } })).status).toBe('pending');

    // Nothing is started twice: the next run finds nothing to do.
    expect(await runHousekeeping()).toEqual({ sagasStarted: [], ordersFailed: [], reservationsExpired: [] });
  });

  it('fails an order still pending whose saga ended without deciding it (terminated by hand)', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    const order = await orderLeftPending(product.productId, GRACE_MS + 60_000);
    const saga = await client.workflow.start(orderSagaType, {
      taskQueue: uniqueName('nobody-polls'),
      workflowId: orderWorkflowId(order.id),
      args: [sagaInputFor(order, testTokens.visa)],
    });
    await saga.terminate('an operator stopped it');

    const report = await runHousekeeping();

    expect(report).toEqual({ sagasStarted: [], ordersFailed: [order.id], reservationsExpired: [] });
    expect(await prisma.order.findUniqueOrThrow({ where: { id: order.id } })).toMatchObject({ status: 'failed', failureReason: 'processing_error' });
    expect((await outboxEvents(prisma, order.id)).map((e) => e.event_type)).toEqual(['order.created', 'order.failed']);
  });

  it('returns the stock of an expired reservation whose saga is gone, and leaves one that a running saga holds', async () => {
    const product = await createStockedProduct(prisma, { units: [5] });
    // A saga reserved, then was lost before it released: the reservation is the only trace.
    const orphan = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);
    await reserveInventory({ db: prisma, clock: systemClock }, { orderId: orphan.id, lines: [{ variantId: product.variantId, quantity: 2 }], ttlMs: 1 });
    await transitionOrder({ db: prisma, clock: systemClock }, { orderId: orphan.id, to: 'inventory_reserved' });
    // A saga waiting for 3-D Secure holds its reservation, past its time or not: the saga releases it.
    const held = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const heldSaga = await client.workflow.start(orderSagaType, {
      taskQueue,
      workflowId: orderWorkflowId(held.id),
      args: [sagaInputFor(held, testTokens.threeDSecure)],
    });
    await expect.poll(async () => (await heldSaga.query(statusQuery)).status, { timeout: 10_000 }).toBe('awaiting_payment');
    await prisma.reservation.update({ where: { orderId: held.id }, data: { expiresAt: new Date(Date.now() - 1_000) } });

    const report = await runHousekeeping();

    expect(report.reservationsExpired).toEqual([orphan.id]);
    expect((await prisma.reservation.findUniqueOrThrow({ where: { orderId: orphan.id } })).status).toBe('expired');
    expect((await prisma.reservation.findUniqueOrThrow({ where: { orderId: held.id } })).status).toBe('active');
    expect(await prisma.stock.findFirstOrThrow({ where: { variantId: product.variantId } })).toMatchObject({ onHand: 5, reserved: 1 });
    const released = (await outboxEvents(prisma, orphan.id)).find((e) => e.event_type === 'inventory.released');
    expect(released?.data).toMatchObject({ order_id: orphan.id, reason: 'expired' });

    await heldSaga.signal(cancelSignal, { reason: 'test finished' });
    expect(await heldSaga.result()).toMatchObject({ status: 'cancelled' });
  });
});
