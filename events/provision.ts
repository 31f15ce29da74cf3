import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { topics, type Topic } from '../domain/events/topics.js';
import { type KafkaNames } from './kafka-names.js';

// kafkajs is CommonJS, and Node's ESM loader does not see this export by name.
const { ConfigResourceTypes } = kafkajs;

export interface TopicSpec {
  name: string;
  partitions: number;
  retentionMs: number;
}

/**
 * Every topic the system uses, as named on the cluster: the topics of CONTRACT §4 with the seed's
 * partitions and retention, and beside each its dead-letter topic (same partitions, so a poisoned
 * partition's messages keep their partition and order; the same retention, to give someone time to
 * look).
 */
export function topicSpecs(names: KafkaNames): TopicSpec[] {
  return (Object.entries(topics) as [Topic, (typeof topics)[Topic]][]).flatMap(([topic, spec]) => [
    { name: names.topic(topic), partitions: spec.partitions, retentionMs: spec.retentionMs },
    { name: names.deadLetter(topic), partitions: spec.partitions, retentionMs: spec.retentionMs },
  ]);
}

export interface ProvisionReport {
  created: string[];
  /** Existing topics whose retention.ms differed and was set. */
  retentionUpdated: string[];
  unchanged: string[];
  /**
   * Existing topics with another partition count: left as they are, because adding partitions
   * moves keys to other partitions and breaks the per-order ordering of events in flight.
   */
  partitionMismatch: { name: string; expected: number; actual: number }[];
}

/**
 * Creates the missing topics and brings the retention of the existing ones to the spec. Idempotent,
 * and safe when several processes provision at once (a topic another one created counts as
 * existing). Run it before any consumer subscribes: the broker does not create topics on demand.
 */
export async function provisionTopics(
  admin: Admin,
  options: { names: KafkaNames; replicationFactor: number },
): Promise<ProvisionReport> {
  const specs = topicSpecs(options.names);
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  const report: ProvisionReport = { created: [], retentionUpdated: [], unchanged: [], partitionMismatch: [] };

  if (missing.length) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(
        (s): ITopicConfig => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: options.replicationFactor,
          configEntries: [{ name: 'retention.ms', value: String(s.retentionMs) }],
        }),
      ),
    });
    report.created.push(...missing.map((s) => s.name));
  }

  const present = specs.filter((s) => existing.has(s.name));
  if (!present.length) return report;

  const [metadata, configs] = await Promise.all([
    admin.fetchTopicMetadata({ topics: present.map((s) => s.name) }),
    admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.name, configNames: ['retention.ms'] })),
    }),
  ]);
  const partitionsOf = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const retentionOf = new Map(
    configs.resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue]),
  );

  const stale = present.filter((s) => retentionOf.get(s.name) !== String(s.retentionMs));
  if (stale.length) {
    // alterConfigs replaces a topic's dynamic settings as a set; retention.ms is the only one we own.
    await admin.alterConfigs({
      validateOnly: false,
      resources: stale.map((s) => ({
        type: ConfigResourceTypes.TOPIC,
        name: s.name,
        configEntries: [{ name: 'retention.ms', value: String(s.retentionMs) }],
      })),
    });
  }
  for (const s of present) {
    if (stale.includes(s)) report.retentionUpdated.push(s.name);
    else report.unchanged.push(s.name);
    const actual = partitionsOf.get(s.name) ?? 0;
    if (actual !== s.partitions) report.partitionMismatch.push({ name: s.name, expected: s.partitions, actual });
  }
  return report;
}
