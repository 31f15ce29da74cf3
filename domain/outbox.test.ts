import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../test/support/env.js';
import { createPrisma } from '../db/prisma.js';
import type { EventData } from './events/schemas.js';
import { InvalidEventError } from './errors.js';
import { recordEvent } from './outbox.js';

const prisma = createPrisma(testConfig().postgres.url);
afterAll(() => prisma.$disconnect());

function cancelled(orderId: string, data: Partial<EventData<'order.cancelled'>> = {}) {
  return {
    eventType: 'order.cancelled' as const,
    aggregate: { type: 'order' as const, id: orderId },
    context: { correlationId: 'req-1', userId: 'user-1', traceId: 'trace-1' },
    occurredAt: new Date('2030-01-01T00:00:00Z'),
    data: {
      order_id: orderId,
      order_number: 'ORD-2030-00001',
      user_id: 'user-1',
      reason: 'customer_request',
      cancelled_at: '2030-01-01T00:00:00.000Z',
      ...data,
    },
  };
}

describe('recordEvent', () => {
  it('writes an event once however often the same step records it', async () => {
    const orderId = randomUUID();
    const first = await prisma.$transaction((tx) => recordEvent(tx, cancelled(orderId)));
    const second = await prisma.$transaction((tx) => recordEvent(tx, cancelled(orderId)));

    expect(first).toEqual({ eventId: second.eventId, inserted: true });
    expect(second.inserted).toBe(false);
    const rows = await prisma.outboxEvent.findMany({ where: { aggregateId: orderId } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      eventId: first.eventId,
      aggregateType: 'order',
      eventType: 'order.cancelled',
      topic: 'order-events',
      publishedAt: null,
      headers: { 'event-id': first.eventId, 'event-type': 'order.cancelled', 'correlation-id': 'req-1', 'trace-id': 'trace-1' },
    });
  });

  it('refuses a payload that does not match its schema, writing nothing', async () => {
    const orderId = randomUUID();
    const bad = cancelled(orderId, { order_number: 'not-a-number' });

    await expect(prisma.$transaction((tx) => recordEvent(tx, bad))).rejects.toBeInstanceOf(InvalidEventError);
    expect(await prisma.outboxEvent.count({ where: { aggregateId: orderId } })).toBe(0);
  });
});
