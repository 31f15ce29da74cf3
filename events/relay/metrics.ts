import { metrics } from '@opentelemetry/api';

/** Rows per batch, up to a few times the default RELAY_BATCH_SIZE (100). */
const batchBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500];

export interface RelayMetrics {
  /** One batch: the rows sent to Kafka (by their canonical topic and event type), and those parked. */
  batch(published: readonly { topic: string; event_type: string }[], parked: number): void;
}

/** The relay's counters; taken when called, so after initTelemetry (a no-op without it). Its lag gauges are OutboxRelay.observeLag. */
export function relayMetrics(): RelayMetrics {
  const meter = metrics.getMeter('order-saga-relay');
  const batchSize = meter.createHistogram('outbox.batch.size', {
    description: 'Outbox rows published or parked per batch',
    advice: { explicitBucketBoundaries: batchBuckets },
  });
  const published = meter.createCounter('outbox.published', { description: 'Outbox rows published to Kafka, by topic and event type (a batch sent again counts again)' });
  const parked = meter.createCounter('outbox.parked', { description: 'Outbox rows parked because the broker refuses them for good' });
  return {
    batch(rows, parkedRows) {
      batchSize.record(rows.length + parkedRows);
      for (const row of rows) published.add(1, { topic: row.topic, event_type: row.event_type });
      if (parkedRows) parked.add(parkedRows);
    },
  };
}
