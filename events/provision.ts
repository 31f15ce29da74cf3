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

export interface ProvisionOptions {
  names: KafkaNames;
  replicationFactor: number;
  /** Replicas that must have a write before acks=all succeeds (KAFKA_MIN_INSYNC_REPLICAS). */
  minInsyncReplicas: number;
}

export interface ProvisionReport {
  created: string[];
  /** Topics that were there already: checked against the spec, never changed. */
  existing: string[];
  /** Settings of existing topics that differ from the spec: reported, never changed (see provisionTopics). */
  configDrift: { name: string; config: string; expected: string; actual: string | undefined }[];
  /**
   * Existing topics with another partition count: left as they are, because adding partitions
   * moves keys to other partitions and breaks the per-order ordering of events in flight.
   */
  partitionMismatch: { name: string; expected: number; actual: number }[];
}

/** The topic-level settings the system relies on, set when it creates a topic. */
function settingsOf(spec: TopicSpec, options: ProvisionOptions): Record<string, string> {
  return { 'retention.ms': String(spec.retentionMs), 'min.insync.replicas': String(options.minInsyncReplicas) };
}

/**
 * Creates the missing topics with their settings, and reports where existing ones differ from the
 * spec without changing them: kafkajs has only the AlterConfigs call, which replaces a topic's whole
 * set of dynamic settings and would wipe whatever operators set (IncrementalAlterConfigs is not
 * implemented). Idempotent, and safe when several processes provision at once (a topic another one
 * created counts as existing). Run it before any consumer subscribes: the broker does not create
 * topics on demand.
 */
export async function provisionTopics(admin: Admin, options: ProvisionOptions): Promise<ProvisionReport> {
  const specs = topicSpecs(options.names);
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  const report: ProvisionReport = { created: [], existing: [], configDrift: [], partitionMismatch: [] };

  if (missing.length) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(
        (s): ITopicConfig => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: options.replicationFactor,
          configEntries: Object.entries(settingsOf(s, options)).map(([name, value]) => ({ name, value })),
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
      resources: present.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.name, configNames: Object.keys(settingsOf(s, options)) })),
    }),
  ]);
  const partitionsOf = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const settingsFound = new Map(configs.resources.map((r) => [r.resourceName, new Map(r.configEntries.map((e) => [e.configName, e.configValue]))]));

  for (const s of present) {
    report.existing.push(s.name);
    const drift = Object.entries(settingsOf(s, options))
      .map(([config, expected]) => ({ name: s.name, config, expected, actual: settingsFound.get(s.name)?.get(config) }))
      .filter((d) => d.actual !== d.expected);
    report.configDrift.push(...drift);
    const actual = partitionsOf.get(s.name) ?? 0;
    if (actual !== s.partitions) report.partitionMismatch.push({ name: s.name, expected: s.partitions, actual });
  }
  return report;
}
