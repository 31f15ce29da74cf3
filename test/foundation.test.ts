import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Kafka, logLevel } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CustomerId, OrderId, OrderStatus } from '../workflows/search-attributes.js';
import { toolPaths } from '../stack/tools.js';
import * as activities from './fixtures/foundation-activities.js';
import { greet, sleepADay } from './fixtures/foundation-workflows.js';
import { testConfig, uniqueName } from './support/env.js';

const config = testConfig();
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  workflowBundle = await bundleWorkflowCode({
    workflowsPath: new URL('./fixtures/foundation-workflows.ts', import.meta.url).pathname,
    logger: Runtime.instance().logger,
  });
});

describe('the Temporal time-skipping test server', () => {
  it('runs a workflow that sleeps a simulated day in seconds of wall time', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: toolPaths(config.stack.cacheDir).testServer } },
    });
    try {
      const taskQueue = uniqueName('time-skipping');
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
      const wallStart = Date.now();
      const workflowElapsed = await worker.runUntil(
        env.client.workflow.execute(sleepADay, { taskQueue, workflowId: uniqueName('sleep') }),
      );
      expect(workflowElapsed).toBeGreaterThanOrEqual(24 * 3600 * 1000);
      expect(Date.now() - wallStart).toBeLessThan(60_000);
    } finally {
      await env.teardown();
    }
  });
});

describe('the Temporal dev server', () => {
  it('runs a workflow with an activity on a worker and finds it by its search attributes', async () => {
    const connection = await Connection.connect({ address: config.temporal.address });
    const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    const client = new Client({ connection, namespace: config.temporal.namespace });
    try {
      const taskQueue = uniqueName('round-trip');
      const orderId = uniqueName('order');
      const worker = await Worker.create({ connection: nativeConnection, namespace: config.temporal.namespace, taskQueue, workflowBundle, activities });
      const handle = await client.workflow.start(greet, {
        taskQueue,
        workflowId: uniqueName('greet'),
        args: ['temporal'],
        typedSearchAttributes: [
          { key: OrderId, value: orderId },
          { key: CustomerId, value: 'customer-1' },
        ],
      });
      const result = await worker.runUntil(handle.result());
      expect(result).toBe('HELLO TEMPORAL from greet');

      const described = await handle.describe();
      expect(described.typedSearchAttributes.get(OrderId)).toBe(orderId);
      expect(described.typedSearchAttributes.get(OrderStatus)).toBe('greeted');

      // Visibility is eventually consistent: the list query sees the workflow within moments.
      let found: string[] = [];
      for (let attempt = 0; attempt < 40 && found.length === 0; attempt++) {
        found = [];
        for await (const wf of client.workflow.list({ query: `OrderId = '${orderId}' AND OrderStatus = 'greeted'` })) {
          found.push(wf.workflowId);
        }
        if (!found.length) await new Promise((r) => setTimeout(r, 250));
      }
      expect(found).toEqual([handle.workflowId]);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });
});

describe('Kafka', () => {
  it('delivers what an idempotent producer sends to a consumer group, in order per key', async () => {
    const kafka = new Kafka({ clientId: uniqueName('foundation'), brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
    const topic = uniqueName('foundation-topic');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const consumer = kafka.consumer({ groupId: uniqueName('foundation-group') });
    try {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received: string[] = [];
      const allReceived = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            received.push(`${message.key?.toString()}:${message.value?.toString()}`);
            if (received.length === 5) resolve();
          },
        });
      });
      const sent = ['a:1', 'b:1', 'a:2', 'b:2', 'a:3'];
      for (const entry of sent) {
        const [key, value] = entry.split(':');
        await producer.send({ topic, messages: [{ key: key!, value: value! }] });
      }
      await allReceived;
      expect(received.filter((r) => r.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3']);
      expect(received.filter((r) => r.startsWith('b:'))).toEqual(['b:1', 'b:2']);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });
});
