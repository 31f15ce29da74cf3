import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { testConfig, uniqueName } from '../test/support/env.js';
import { memoryLogger } from '../test/support/events.js';
import { createKafka } from './kafka.js';

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
