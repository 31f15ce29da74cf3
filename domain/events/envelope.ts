import { uuidV5 } from '../ids.js';
import { EVENT_VERSION, type EventData, type EventEnvelope, type EventType } from './schemas.js';

/** Namespace of this system's event ids (a fixed random UUID: changing it changes every id). */
export const EVENT_ID_NAMESPACE = '5b0f7c8e-4a35-4d0b-9a55-0f4f3c2d9e61';

/**
 * The id of the event of `eventType` about an aggregate: derived, not random, so a retried step
 * mints the same id and cannot announce the same change twice. `occurrence` tells apart events of
 * a type that may legitimately happen more than once for one aggregate (a product's updates).
 */
export function eventIdFor(aggregateId: string, eventType: EventType, occurrence?: string): string {
  return uuidV5([aggregateId, eventType, ...(occurrence === undefined ? [] : [occurrence])].join(':'), EVENT_ID_NAMESPACE);
}

const sourceServices: Record<string, string> = {
  order: 'order-service',
  payment: 'payment-service',
  inventory: 'inventory-service',
  notification: 'notification-service',
  product: 'product-service',
};

/** The service that publishes an event type, as the seed names it (`order.created` → `order-service`). */
export function sourceServiceOf(eventType: EventType): string {
  const domain = eventType.split('.')[0]!;
  const service = sourceServices[domain];
  if (!service) throw new Error(`no source service for ${eventType}`);
  return service;
}

/** Who caused an event and in which request/trace: carried from the HTTP request through the saga. */
export interface EventContext {
  correlationId: string;
  userId: string;
  traceId: string;
}

export function buildEnvelope<T extends EventType>(input: {
  eventType: T;
  aggregateId: string;
  occurrence?: string;
  data: EventData<T>;
  context: EventContext;
  occurredAt: Date;
}): EventEnvelope<T> {
  return {
    event_id: eventIdFor(input.aggregateId, input.eventType, input.occurrence),
    event_type: input.eventType,
    event_version: EVENT_VERSION,
    timestamp: input.occurredAt.toISOString(),
    source_service: sourceServiceOf(input.eventType),
    correlation_id: input.context.correlationId,
    data: input.data,
    metadata: { user_id: input.context.userId, trace_id: input.context.traceId },
  } as EventEnvelope<T>;
}
