import { context, propagation } from '@opentelemetry/api';
import { buildEnvelope, type EventContext } from './events/envelope.js';
import { eventSchemas, type EventData, type EventType } from './events/schemas.js';
import { topicOf } from './events/topics.js';
import type { Sql } from '../db/sql.js';
import { InvalidEventError, NotFoundError } from './errors.js';

export type AggregateType = 'order' | 'product';

export interface RecordEventInput<T extends EventType> {
  eventType: T;
  /** The relay keys Kafka messages by the aggregate id, so one aggregate's events stay in order. */
  aggregate: { type: AggregateType; id: string };
  data: EventData<T>;
  context: EventContext;
  occurredAt: Date;
  occurrence?: string;
}

/** An event's outbox row, as recordEvent inserts it (or a statement that inserts it beside another change). */
export interface OutboxRow {
  eventId: string;
  aggregateType: AggregateType;
  aggregateId: string;
  eventType: EventType;
  topic: string;
  /** The envelope and the Kafka headers, as JSON. */
  payload: string;
  headers: string;
  createdAt: Date;
}

/**
 * Writes an event to the outbox inside the caller's transaction: the one way domain code announces
 * a change. The envelope is validated against the event's schema first; a row with the same
 * (deterministic) event id is left as it is, so a retried step records nothing new.
 * Returns the event id and whether this call inserted it.
 */
export async function recordEvent<T extends EventType>(
  tx: Sql,
  input: RecordEventInput<T>,
): Promise<{ eventId: string; inserted: boolean }> {
  const row = outboxRow(input);
  const inserted = await tx.$executeRaw`
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, topic, payload, headers, created_at)
    VALUES (${row.eventId}::uuid, ${row.aggregateType}, ${row.aggregateId}, ${row.eventType},
            ${row.topic}, ${row.payload}::jsonb, ${row.headers}::jsonb, ${row.createdAt})
    ON CONFLICT (event_id) DO NOTHING`;
  return { eventId: row.eventId, inserted: inserted === 1 };
}

/** The outbox row of an event: its envelope, validated against the event's schema, and its headers. */
export function outboxRow<T extends EventType>(input: RecordEventInput<T>): OutboxRow {
  const envelope = buildEnvelope({
    eventType: input.eventType,
    aggregateId: input.aggregate.id,
    occurrence: input.occurrence,
    data: input.data,
    context: input.context,
    occurredAt: input.occurredAt,
  });
  const checked = eventSchemas[input.eventType].safeParse(envelope);
  if (!checked.success) {
    throw new InvalidEventError(`${input.eventType} does not match its schema: ${checked.error.message}`, {
      eventType: input.eventType,
      issues: checked.error.issues,
    });
  }
  const headers: Record<string, string> = {
    'event-id': envelope.event_id,
    'event-type': envelope.event_type,
    'event-version': envelope.event_version,
    'correlation-id': envelope.correlation_id,
    'trace-id': envelope.metadata.trace_id,
  };
  // The W3C `traceparent` of the span recording the event (the request, or the saga's activity):
  // the relay publishes as its child, so the trace goes on through Kafka.
  propagation.inject(context.active(), headers);
  return {
    eventId: envelope.event_id,
    aggregateType: input.aggregate.type,
    aggregateId: input.aggregate.id,
    eventType: input.eventType,
    topic: topicOf[input.eventType],
    payload: JSON.stringify(envelope),
    headers: JSON.stringify(headers),
    createdAt: input.occurredAt,
  };
}

/** The correlation id, user and trace an order's events carry: stored on the order when it was placed. */
export async function orderEventContext(tx: Sql, orderId: string): Promise<EventContext> {
  const [order] = await tx.$queryRaw<EventContext[]>`
    SELECT correlation_id AS "correlationId", user_id AS "userId", trace_id AS "traceId" FROM orders WHERE id = ${orderId}::uuid`;
  if (!order) throw new NotFoundError('order', orderId);
  return order;
}
