import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../test/support/env.js';
import { createKafka } from './kafka.js';
import { provisionTopics, topicSpecs } from './provision.js';
import { deleteTopics, testNames } from '../test/support/events.js';
import { topics } from '../domain/events/topics.js';
import { kafkaNames } from './kafka-names.js';

const { ConfigResourceTypes } = kafkajs;
const kafka = createKafka(testConfig(), 'test');
const admin = kafka.admin();
const names = testNames();
const provision = () => provisionTopics(admin, { names, replicationFactor: 1 });

beforeAll(() => admin.connect());
afterAll(async () => {
  await deleteTopics(admin, names);
  await admin.disconnect();
});

async function retentionOf(topic: string): Promise<string | undefined> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
  });
  return resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue;
}

describe('provisionTopics', () => {
  it('creates every topic of CONTRACT §4 and its .dlq with the seed’s partitions and retention', async () => {
    const report = await provision();
    const expected = Object.keys(topics).flatMap((t) => [`${names.prefix}${t}`, `${names.prefix}${t}.dlq`]);
    expect(report.created.sort()).toEqual(expected.sort());

    const metadata = await admin.fetchTopicMetadata({ topics: expected });
    const partitions = Object.fromEntries(metadata.topics.map((t) => [t.name, t.partitions.length]));
    expect(partitions[names.topic('order-events')]).toBe(6);
    expect(partitions[names.deadLetter('payment-events')]).toBe(6);
    expect(partitions[names.topic('notification-events')]).toBe(3);
    expect(await retentionOf(names.topic('order-events'))).toBe('604800000');
    expect(await retentionOf(names.topic('payment-events'))).toBe('2592000000');
    expect(await retentionOf(names.topic('notification-events'))).toBe('86400000');
    expect(await retentionOf(names.deadLetter('inventory-events'))).toBe('604800000');
  });

  it('is idempotent: a second run creates nothing and changes nothing', async () => {
    const report = await provision();
    expect(report).toEqual({ created: [], retentionUpdated: [], unchanged: topicSpecs(names).map((s) => s.name), partitionMismatch: [] });
  });

  it('brings an existing topic’s retention back to the spec, and reports a partition count it will not change', async () => {
    const topic = names.topic('payment-events');
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '1000' }] }],
    });
    await admin.createPartitions({ topicPartitions: [{ topic: names.topic('product-events'), count: 8 }] });
    // Kafka's metadata is eventually consistent: provision only once both changes can be seen.
    await expect.poll(() => retentionOf(topic)).toBe('1000');
    await expect
      .poll(async () => (await admin.fetchTopicMetadata({ topics: [names.topic('product-events')] })).topics[0]?.partitions.length)
      .toBe(8);

    const report = await provision();
    expect(report.retentionUpdated).toEqual([topic]);
    expect(report.partitionMismatch).toEqual([{ name: names.topic('product-events'), expected: 6, actual: 8 }]);
    expect(await retentionOf(topic)).toBe('2592000000');
  });

  it('names topics and groups with the configured prefix, and the canonical names without one', () => {
    expect(topicSpecs(names).map((s) => s.name).every((n) => n.startsWith(names.prefix))).toBe(true);
    expect(names.group('search-service-group')).toBe(`${names.prefix}search-service-group`);
    expect(names.topicOf(`${names.prefix}order-events`)).toBe('order-events');
    const canonical = topicSpecs(kafkaNames('')).map((s) => s.name);
    expect(canonical).toEqual(expect.arrayContaining(['order-events', 'order-events.dlq', 'notification-events', 'notification-events.dlq']));
    expect(kafkaNames('').group('analytics-service-group')).toBe('analytics-service-group');
  });
});
