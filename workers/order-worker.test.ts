import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider, testTokens } from '../fake-payment-provider/provider.js';
import { createFakeProviderServer } from '../fake-payment-provider/server.js';
import { createStockedProduct, outboxEvents, placeOrder } from '../test/support/domain.js';
import { sagaInputFor, testConfig, uniqueName } from '../test/support/env.js';
import { orderSagaType, orderWorkflowId } from '../workflows/definitions.js';
import { housekeepingScheduleId } from './housekeeping-schedule.js';

const config = testConfig();
const prisma = createPrisma(config.postgres.url);
const provider = new FakePaymentProvider();
const providerServer = createFakeProviderServer({ provider });
const taskQueue = uniqueName('worker-crash');
let providerUrl: string;
let connection: Connection;

beforeAll(async () => {
  await providerServer.listen({ host: '127.0.0.1', port: 0 });
  providerUrl = `http://127.0.0.1:${(providerServer.server.address() as AddressInfo).port}`;
  connection = await Connection.connect({ address: config.temporal.address });
});

afterAll(async () => {
  await providerServer.close();
  // The process keeps a housekeeping schedule for its task queue; it goes with the test.
  await new Client({ connection, namespace: config.temporal.namespace }).schedule.getHandle(housekeepingScheduleId(taskQueue)).delete();
  await connection?.close();
  await prisma.$disconnect();
});

/** `npm run worker` as its own process, against this run's database and a task queue of its own. */
async function startWorkerProcess(): Promise<ChildProcess> {
  // One process (tsx as a loader, not its CLI, which would run the worker in a child of its own),
  // so that killing it kills the worker.
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: config.postgres.url,
      TEMPORAL_TASK_QUEUE: taskQueue,
      PAYMENT_PROVIDER_URL: providerUrl,
      // Its housekeeping would scan the run's whole database: this test is about the saga alone.
      HOUSEKEEPING_INTERVAL_SECONDS: '86400',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('order worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}):\n${output}`)));
  });
  return child;
}

describe('the order worker process', () => {
  it('completes a saga with one charge when it is killed in the middle and started again', async () => {
    const product = await createStockedProduct(prisma, { units: [3] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const client = new Client({ connection, namespace: config.temporal.namespace });

    const first = await startWorkerProcess();
    // tok_timeout: the provider takes the charge, then the answer never comes; the worker dies mid-call.
    const handle = await client.workflow.start(orderSagaType, {
      taskQueue,
      workflowId: orderWorkflowId(order.id),
      args: [sagaInputFor(order, testTokens.timeout)],
    });

    // Kill the worker once the charge has reached the provider.
    for (let i = 0; i < 200 && provider.chargeCount(order.id) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(provider.chargeCount(order.id)).toBe(1);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect(first.signalCode).toBe('SIGKILL');

    const second = await startWorkerProcess();
    try {
      const result = await handle.result();
      expect(result).toEqual({ orderId: order.id, status: 'confirmed' });
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
    }

    expect(provider.chargeCount(order.id)).toBe(1);
    const payments = await prisma.payment.findMany({ where: { orderId: order.id } });
    expect(payments.map((p) => p.status)).toEqual(['succeeded']);
    const events = (await outboxEvents(prisma, order.id)).map((e) => e.event_type);
    expect(events).toEqual(['order.created', 'inventory.reserved', 'payment.success', 'inventory.committed', 'order.confirmed']);
    // Temporal, not the code, retried the charge that the dead worker never answered.
    const history = await handle.fetchHistory();
    const chargeAttempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(Math.max(...chargeAttempts.map(Number))).toBeGreaterThan(1);
  }, 120_000);
});
