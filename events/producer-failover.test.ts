import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config/index.js';
import { livePid } from '../stack/processes.js';
import { kafkaNodeName } from '../stack/services.js';
import { down, pidFile, up } from '../stack/stack.js';
import { freeKafkaPorts, uniqueName } from '../test/support/env.js';
import { createIdempotentProducer, createKafka } from './kafka.js';
import { ensureTopics } from './process.js';
import { memoryLogger } from '../test/support/events.js';

// Brokers that fail under a relay, on a three-node cluster of this file's own. A send in flight: the
// topic's two partitions are led by different brokers, and the second one's only other replica is
// the first one's leader: when its leader dies, its leadership moves to a broker that has already
// answered the send. kafkajs (2.2.4) then sends that partition's messages nowhere and resolves.

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'producer-failover-'));
let kafkaPort: number;
let config: Config;
let kafka: Kafka;
let admin: Admin;

/** The configuration of a process on this file's cluster. */
function clusterConfig(env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({
    ...process.env,
    NODE_ENV: 'test',
    STACK_STATE_DIR: stateDir,
    KAFKA_NODES: '3',
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: String(kafkaPort + 1),
    ...env,
  });
}

beforeAll(async () => {
  kafkaPort = await freeKafkaPorts();
  config = clusterConfig();
  await up(config, { only: ['kafka'] });
  // Retries enough to outlast the controller's fencing of a dead broker (broker.session.timeout.ms, 9 s).
  kafka = new Kafka({
    clientId: 'producer-failover-test',
    brokers: config.kafka.brokers,
    logLevel: logLevel.NOTHING,
    requestTimeout: 5_000,
    retry: { retries: 30, initialRetryTime: 300, maxRetryTime: 1_000 },
  });
  admin = kafka.admin();
  await admin.connect();
}, 180_000);

afterAll(async () => {
  await admin?.disconnect();
  if (config) await down(config, ['kafka']);
  fs.rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

/** Every message value the topic holds, by partition. */
async function valuesIn(topic: string): Promise<Map<number, string[]>> {
  const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => Number(p.high) > 0);
  const values = new Map<number, string[]>();
  const consumer = kafka.consumer({ groupId: uniqueName('failover-reader') });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const reached = new Set<number>();
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        values.set(partition, [...(values.get(partition) ?? []), message.value!.toString()]);
        if (Number(message.offset) >= Number(ends.find((e) => e.partition === partition)!.high) - 1) reached.add(partition);
        if (reached.size === ends.length) resolve();
      },
    });
  });
  await consumer.disconnect();
  return values;
}

describe('an idempotent producer when a partition leader dies mid-send', () => {
  it('sends every message, or fails the send, when the dead leader’s partition moves to a broker that had answered', async () => {
    const [a, b, c] = config.kafka.nodes.map((n) => n.id) as [number, number, number];
    const topic = uniqueName('failover');
    await admin.createTopics({
      waitForLeaders: false,
      topics: [
        {
          topic,
          replicaAssignment: [
            { partition: 0, replicas: [a, c] },
            { partition: 1, replicas: [b, a] },
          ],
          // The moved partition has one replica left; a write there must still be taken.
          configEntries: [{ name: 'min.insync.replicas', value: '1' }],
        },
      ],
    });
    await expect
      .poll(async () => (await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => ({ topics: [] }))).topics[0]?.partitions.map((p) => p.leader).sort(), {
        timeout: 30_000,
        interval: 200,
      })
      .toEqual([a, b].sort());
    const producer = createIdempotentProducer(kafka);
    // Both leaders connected and known before the failure.
    await producer.sendBatch({ topicMessages: [{ topic, messages: [{ partition: 0, value: 'warm-0' }, { partition: 1, value: 'warm-1' }] }] });

    const leaderOfOne = livePid(pidFile(config, kafkaNodeName(b)))!;
    process.kill(leaderOfOne, 'SIGSTOP');
    try {
      const batch = { topicMessages: [{ topic, messages: [{ partition: 0, value: 'batch-0' }, { partition: 1, value: 'batch-1' }] }] };
      const sending = producer.sendBatch(batch);
      // Partition 0's leader answers; partition 1's request waits on the stopped broker, which then dies.
      await sleep(1_000);
      process.kill(leaderOfOne, 'SIGKILL');
      // As the relay does: a send that fails is made again, until one succeeds.
      let attempts = 1;
      for (let sent = await sending.then(() => true, () => false); !sent && attempts < 10; attempts++) {
        sent = await producer.sendBatch(batch).then(() => true, () => false);
      }
      const values = await valuesIn(topic);
      expect({ 0: values.get(0)?.includes('batch-0'), 1: values.get(1)?.includes('batch-1') }).toEqual({ 0: true, 1: true });
      expect(attempts).toBeGreaterThan(1);
    } finally {
      await producer.disconnect();
      await up(config, { only: ['kafka'] });
    }
  }, 180_000);
});

describe('provisioning the topics at a process start', () => {
  it('waits for a cluster that is down, instead of ending the process', async () => {
    const nodes = config.kafka.nodes.map((n) => livePid(pidFile(config, kafkaNodeName(n.id)))!);
    for (const pid of nodes) process.kill(pid, 'SIGKILL');
    try {
      const log = memoryLogger();
      // As the relay's and the subscribers' main does it, with the client they make.
      const processConfig = clusterConfig({ KAFKA_TOPIC_PREFIX: `${uniqueName('restart')}.` });
      const provisioned = ensureTopics(createKafka(processConfig, 'relay', log), processConfig, log).then(
        () => 'provisioned',
        (error: Error) => `failed: ${error.message}`,
      );
      await sleep(10_000);
      await up(config, { only: ['kafka'] });
      expect(await provisioned).toBe('provisioned');
    } finally {
      await up(config, { only: ['kafka'] });
    }
  }, 180_000);
});
