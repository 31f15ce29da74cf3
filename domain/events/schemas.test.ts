import { describe, expect, it } from 'vitest';
import { buildEnvelope, eventIdFor } from './envelope.js';
import { eventSchemas, eventTypes, parseEvent, readEvent, type EventEnvelope } from './schemas.js';
import { seedExamples } from '../../test/fixtures/seed-examples.js';
import { consumerGroups, topicOf, topics } from './topics.js';

describe('event schemas', () => {
  it.each(seedExamples.map((e) => [e.event_type, e]))('accept the seed’s %s example as it stands', (_, example) => {
    expect(parseEvent(example)).toEqual(example);
  });

  it('reject a payload with a field the schema does not know, or without one it requires', () => {
    const [orderCreated] = seedExamples;
    expect(() => parseEvent({ ...orderCreated, data: { ...orderCreated!.data, discount: 5 } })).toThrow();
    const withoutCurrency: Record<string, unknown> = { ...orderCreated!.data };
    delete withoutCurrency.currency;
    expect(() => parseEvent({ ...orderCreated, data: withoutCurrency })).toThrow();
    expect(() => parseEvent({ ...orderCreated, event_version: '2.0' })).toThrow();
  });

  it('read as a tolerant reader: unknown fields dropped at any depth, any 1.x version; another major or a missing field refused', () => {
    const orderCreated = seedExamples[0] as EventEnvelope<'order.created'>;
    const newer = {
      ...orderCreated,
      event_version: '1.3',
      schema_url: 'https://schemas.example/order.created/1.3',
      data: {
        ...orderCreated.data,
        discount: 5,
        items: orderCreated.data.items.map((i) => ({ ...i, sku: 'SKU-1' })),
        shipping_address: { ...orderCreated.data.shipping_address, phone: '+1 555 0100' },
      },
    };
    expect(readEvent('order.created', newer)).toEqual({ ...orderCreated, event_version: '1.3' });
    expect(() => readEvent('order.created', { ...newer, event_version: '2.0' })).toThrow();
    const withoutTotal: Record<string, unknown> = { ...newer.data };
    delete withoutTotal.total;
    expect(() => readEvent('order.created', { ...newer, data: withoutTotal })).toThrow();
  });

  it('give every event type a topic of CONTRACT §4 that a consumer group reads', () => {
    for (const type of eventTypes) {
      expect(topics[topicOf[type]]).toBeDefined();
      expect(Object.values(consumerGroups).some((group) => (group as readonly string[]).includes(topicOf[type]))).toBe(true);
    }
    expect(topics['payment-events']).toEqual({ partitions: 6, retentionMs: 2_592_000_000 });
    expect(topics['notification-events']).toEqual({ partitions: 3, retentionMs: 86_400_000 });
  });
});

describe('event ids', () => {
  it('are the same UUID v5 for the same order and type, and differ otherwise', () => {
    const id = eventIdFor('550e8400-e29b-41d4-a716-446655440002', 'order.created');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdFor('550e8400-e29b-41d4-a716-446655440002', 'order.created')).toBe(id);
    expect(eventIdFor('550e8400-e29b-41d4-a716-446655440002', 'order.failed')).not.toBe(id);
    expect(eventIdFor('550e8400-e29b-41d4-a716-446655440099', 'order.created')).not.toBe(id);
  });

  it('are built into an envelope that its schema accepts', () => {
    const envelope = buildEnvelope({
      eventType: 'order.cancelled',
      aggregateId: '550e8400-e29b-41d4-a716-446655440002',
      context: { correlationId: 'req-1', userId: 'user-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      occurredAt: new Date('2024-01-15T10:31:00Z'),
      data: {
        order_id: '550e8400-e29b-41d4-a716-446655440002',
        order_number: 'ORD-2024-00001',
        user_id: 'user-1',
        reason: 'customer_request',
        cancelled_at: '2024-01-15T10:31:00.000Z',
      },
    });
    expect(eventSchemas['order.cancelled'].parse(envelope)).toMatchObject({ source_service: 'order-service', event_version: '1.0' });
  });
});
