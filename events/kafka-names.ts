import { topics, type ConsumerGroup, type Topic } from '../domain/events/topics.js';

/** Where a subscriber sends an event that keeps failing. */
export function deadLetterTopic(topic: Topic): `${Topic}.dlq` {
  return `${topic}.dlq`;
}

/**
 * The names topics and consumer groups have on a cluster: the canonical ones behind a prefix
 * (KAFKA_TOPIC_PREFIX, empty in production), so test runs can share a broker without meeting.
 */
export interface KafkaNames {
  topic(topic: Topic): string;
  deadLetter(topic: Topic): string;
  group(group: ConsumerGroup): string;
  /** The canonical topic of a name on the cluster, or undefined when it is none of ours. */
  topicOf(name: string): Topic | undefined;
}

export function kafkaNames(prefix: string): KafkaNames {
  const byName = new Map(Object.keys(topics).map((t) => [`${prefix}${t}`, t as Topic]));
  return {
    topic: (topic) => `${prefix}${topic}`,
    deadLetter: (topic) => `${prefix}${deadLetterTopic(topic)}`,
    group: (group) => `${prefix}${group}`,
    topicOf: (name) => byName.get(name),
  };
}
