import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { testConfig } from '../test/support/env.js';
import { createLogger } from '../runtime/log.js';
import { createKafka } from './kafka.js';
import { provisionTopics, topicSpecs } from './provision.js';
import { deleteTopics, testNames } from '../test/support/events.js';
import { topics } from '../domain/events/topics.js';
import { kafkaNames } from './kafka-names.js';

const { ConfigResourceTypes, ConfigSource } = kafkajs;
const kafka = createKafka(testConfig(), 'test', createLogger('test', 'warn'));
const admin = kafka.admin();
const names = testNames();
const provision = () => provisionTopics(admin, { names, replicationFactor: 1, minInsyncReplicas: 1 });

beforeAll(() => admin.connect());
afterAll(async () => {
  await deleteTopics(admin, names);
  await admin.disconnect();
});

/** A topic's settings as the broker reports them, with where each value comes from. */
async function settingsOf(topic: string) {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  });
  return new Map(resources[0]!.configEntries.map((e) => [e.configName, { value: e.configValue, source: e.configSource }]));
}

async function retentionOf(topic: string): Promise<string | undefined> {
  return (await settingsOf(topic)).get('retention.ms')?.value;
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

  it('sets min.insync.replicas and retention on each topic it creates, not leaving them to the broker’s defaults', async () => {
    for (const topic of [names.topic('order-events'), names.deadLetter('notification-events')]) {
      const settings = await settingsOf(topic);
      expect(settings.get('min.insync.replicas'), topic).toEqual({ value: '1', source: ConfigSource.TOPIC_CONFIG });
      expect(settings.get('retention.ms')?.source, topic).toBe(ConfigSource.TOPIC_CONFIG);
    }
  });

  it('is idempotent: a second run creates nothing and changes nothing', async () => {
    const report = await provision();
    expect(report).toEqual({ created: [], existing: topicSpecs(names).map((s) => s.name), configDrift: [], partitionMismatch: [] });
  });

  it('leaves what an operator set on an existing topic alone, and reports where it differs from the spec', async () => {
    const topic = names.topic('payment-events');
    // An operator's changes: a shorter retention and a larger message limit, with the rest kept.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [
            { name: 'retention.ms', value: '1000' },
            { name: 'max.message.bytes', value: '2000000' },
            { name: 'min.insync.replicas', value: '1' },
          ],
        },
      ],
    });
    await admin.createPartitions({ topicPartitions: [{ topic: names.topic('product-events'), count: 8 }] });
    // Kafka's metadata is eventually consistent: provision only once both changes can be seen.
    await expect.poll(async () => (await settingsOf(topic)).get('max.message.bytes')?.value).toBe('2000000');
    await expect
      .poll(async () => (await admin.fetchTopicMetadata({ topics: [names.topic('product-events')] })).topics[0]?.partitions.length)
      .toBe(8);

    const report = await provision();
    const settings = await settingsOf(topic);
    expect(settings.get('max.message.bytes')?.value).toBe('2000000');
    expect(settings.get('retention.ms')?.value).toBe('1000');
    expect(settings.get('min.insync.replicas')).toEqual({ value: '1', source: ConfigSource.TOPIC_CONFIG });
    expect(report.configDrift).toEqual([{ name: topic, config: 'retention.ms', expected: '2592000000', actual: '1000' }]);
    expect(report.partitionMismatch).toEqual([{ name: names.topic('product-events'), expected: 6, actual: 8 }]);
    expect(report.created).toEqual([]);
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

describe('the Kafka settings', () => {
  it('take min.insync.replicas from KAFKA_MIN_INSYNC_REPLICAS, by default one fewer than the replicas, never more than them', () => {
    expect(loadConfig({}).kafka.minInsyncReplicas).toBe(1);
    expect(loadConfig({ KAFKA_REPLICATION_FACTOR: '3' }).kafka.minInsyncReplicas).toBe(2);
    expect(loadConfig({ KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '3' }).kafka.minInsyncReplicas).toBe(3);
    expect(() => loadConfig({ KAFKA_REPLICATION_FACTOR: '1', KAFKA_MIN_INSYNC_REPLICAS: '2' })).toThrow(/KAFKA_MIN_INSYNC_REPLICAS/);
  });
});
