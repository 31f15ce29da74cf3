import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { testConfig, uniqueName } from '../test/support/env.js';
import { memoryLogger } from '../test/support/events.js';
import { logLevel } from 'kafkajs';
import { createKafka, kafkaLogEntry } from './kafka.js';

it("routes kafkajs's own entries through the process's logger, its INFO chatter at debug", async () => {
  const log = memoryLogger();
  const kafka = createKafka(testConfig(), 'test', log);
  const topic = uniqueName('kafka-log');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => undefined });
    const joined = () => log.entries.find((entry) => entry.message.includes('joined the group'));
    for (let waited = 0; !joined() && waited < 20_000; waited += 100) await sleep(100);
    expect(joined()).toMatchObject({ level: 'debug', fields: { kafkajs: 'ConsumerGroup', groupId: `${topic}-group` } });
  } finally {
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  }
});

it('logs an error answer from a broker, which kafkajs hands to its caller to retry, at warn, and its other errors at error', () => {
  const log = memoryLogger();
  const write = kafkaLogEntry(log);
  const at = { timestamp: '2026-11-30T01:40:49.476Z', logger: 'kafkajs' };
  // What a relay printed on a broker that had just started (seen on npm start from a fresh clone).
  write({
    namespace: 'Connection',
    level: logLevel.ERROR,
    label: 'ERROR',
    log: { ...at, message: 'Response InitProducerId(key: 22, version: 1)', error: "The coordinator is loading and hence can't process requests for this group" },
  });
  write({ namespace: 'Producer', level: logLevel.ERROR, label: 'ERROR', log: { ...at, message: 'Crash: KafkaJSNonRetriableError' } });

  expect(log.entries.map((e) => [e.level, e.message])).toEqual([
    ['warn', 'Response InitProducerId(key: 22, version: 1)'],
    ['error', 'Crash: KafkaJSNonRetriableError'],
  ]);
});
