import { metrics } from '@opentelemetry/api';
import { type Admin } from 'kafkajs';
import { consumerGroups, type ConsumerGroup, type Topic } from '../domain/events/topics.js';
import { type KafkaNames } from './kafka-names.js';

/** What became of a message a subscriber received. */
export type MessageOutcome = 'handled' | 'duplicate' | 'ignored' | 'dead_lettered';

export interface ConsumerMetrics {
  message(topic: Topic, outcome: MessageOutcome): void;
}

/**
 * One subscriber's counters, labelled with its canonical group and topic names (no test prefix):
 * `consumer.messages` by outcome, dead letters among them. Taken when called, so after initTelemetry.
 */
export function consumerMetrics(group: ConsumerGroup): ConsumerMetrics {
  const messages = metrics
    .getMeter('order-saga-subscribers')
    .createCounter('consumer.messages', { description: 'Messages a subscriber received, by group, topic and outcome: handled, duplicate (inbox), ignored (a type it does not handle), dead_lettered' });
  return { message: (topic, outcome) => messages.add(1, { consumer_group: group, topic, outcome }) };
}

/**
 * `consumer.lag`: per consumer group and topic, the messages not yet committed (the partitions' high
 * watermarks less the group's committed offsets, from the earliest retained offset where it has
 * committed none). Read from the broker at each scrape, so it shows a group that is stuck or gone too.
 */
export function observeConsumerLag(admin: Admin, names: KafkaNames, groups: readonly ConsumerGroup[]): void {
  const lag = metrics.getMeter('order-saga-subscribers').createObservableGauge('consumer.lag', {
    description: 'Messages not yet committed by the consumer group, by topic',
  });
  lag.addCallback(async (result) => {
    const watermarks = new Map<Topic, { partition: number; high: string; low: string }[]>();
    for (const topic of new Set(groups.flatMap((group) => consumerGroups[group]))) {
      watermarks.set(topic, await admin.fetchTopicOffsets(names.topic(topic)));
    }
    for (const group of groups) {
      const committed = await admin.fetchOffsets({ groupId: names.group(group), topics: consumerGroups[group].map((t) => names.topic(t)) });
      for (const { topic: name, partitions } of committed) {
        const topic = names.topicOf(name)!;
        const offsets = new Map(partitions.map((p) => [p.partition, Number(p.offset)]));
        let behind = 0;
        for (const { partition, high, low } of watermarks.get(topic) ?? []) {
          const from = offsets.get(partition) ?? -1;
          behind += Number(high) - (from < 0 ? Number(low) : from);
        }
        result.observe(behind, { consumer_group: group, topic });
      }
    }
  });
}
