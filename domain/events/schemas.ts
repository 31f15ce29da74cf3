import { z } from 'zod';

/**
 * One versioned schema per event type (CONTRACT §4). The payloads of order.created,
 * payment.success and inventory.reserved are the seed's examples field for field; the others
 * follow the same conventions: snake_case, ids as uuids, money as JSON numbers with an ISO 4217
 * currency beside it, times as ISO 8601 in UTC.
 */

export const EVENT_VERSION = '1.0';

const uuid = z.uuid();
const money = z.number().nonnegative().multipleOf(0.01);
const currency = z.string().regex(/^[A-Z]{3}$/);
const timestamp = z.iso.datetime();
const quantity = z.number().int().positive();

export const shippingAddressSchema = z.strictObject({
  address_line1: z.string().min(1).max(200),
  address_line2: z.string().min(1).max(200).optional(),
  city: z.string().min(1).max(100),
  state: z.string().min(1).max(100),
  postal_code: z.string().min(1).max(20),
  country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code'),
});

const orderRef = { order_id: uuid, order_number: z.string().regex(/^ORD-\d{4}-\d{5,}$/), user_id: z.string().min(1) };
const paymentRef = {
  payment_id: uuid,
  order_id: uuid,
  transaction_id: z.string().regex(/^TXN-\d{4}-\d{5,}$/),
  amount: money,
  currency,
  payment_method: z.string().min(1),
  provider: z.string().min(1),
  provider_transaction_id: z.string().min(1),
};
const reservedLine = z.strictObject({ product_id: uuid, quantity, warehouse_id: uuid });

export const eventDataSchemas = {
  'order.created': z.strictObject({
    ...orderRef,
    total: money,
    currency,
    items: z.array(z.strictObject({ product_id: uuid, quantity, price: money })).min(1),
    shipping_address: shippingAddressSchema,
  }),
  'order.confirmed': z.strictObject({ ...orderRef, total: money, currency, confirmed_at: timestamp }),
  'order.failed': z.strictObject({ ...orderRef, reason: z.string().min(1), failed_at: timestamp }),
  'order.cancelled': z.strictObject({ ...orderRef, reason: z.string().min(1), cancelled_at: timestamp }),

  'payment.success': z.strictObject(paymentRef),
  'payment.failed': z.strictObject({ ...paymentRef, reason: z.string().min(1), decline_code: z.string().min(1) }),
  'payment.refunded': z.strictObject({ ...paymentRef, provider_refund_id: z.string().min(1), refunded_at: timestamp }),

  'inventory.reserved': z.strictObject({
    reservation_id: uuid,
    order_id: uuid,
    reservations: z.array(reservedLine).min(1),
    expires_at: timestamp,
  }),
  'inventory.reservation.failed': z.strictObject({
    order_id: uuid,
    reason: z.literal('out_of_stock'),
    items: z.array(z.strictObject({ product_id: uuid, requested: quantity, available: z.number().int().nonnegative() })).min(1),
  }),
  'inventory.released': z.strictObject({
    reservation_id: uuid,
    order_id: uuid,
    reason: z.string().min(1),
    reservations: z.array(reservedLine).min(1),
  }),
  'inventory.committed': z.strictObject({ reservation_id: uuid, order_id: uuid, reservations: z.array(reservedLine).min(1) }),

  'notification.sent': z.strictObject({
    notification_id: uuid,
    order_id: uuid,
    user_id: z.string().min(1),
    channel: z.enum(['email']),
    template: z.string().min(1),
    sent_at: timestamp,
  }),

  'product.updated': z.strictObject({
    product_id: uuid,
    name: z.string().min(1),
    category: z.string().min(1),
    price: money,
    currency,
    active: z.boolean(),
  }),
  'product.stock_changed': z.strictObject({
    product_id: uuid,
    warehouse_id: uuid,
    on_hand: z.number().int().nonnegative(),
    reserved: z.number().int().nonnegative(),
    available: z.number().int().nonnegative(),
  }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];

/** The seed's "Event Schema Standard" around a payload. */
function envelopeOf<T extends EventType>(eventType: T) {
  return z.strictObject({
    event_id: uuid,
    event_type: z.literal(eventType),
    event_version: z.literal(EVENT_VERSION),
    timestamp,
    source_service: z.string().min(1),
    correlation_id: z.string().min(1),
    data: eventDataSchemas[eventType],
    metadata: z.strictObject({ user_id: z.string().min(1), trace_id: z.string().min(1) }),
  });
}

type EnvelopeSchemas = { [T in EventType]: ReturnType<typeof envelopeOf<T>> };

export const eventSchemas = Object.fromEntries(eventTypes.map((t) => [t, envelopeOf(t)])) as EnvelopeSchemas;

export type EventEnvelope<T extends EventType = EventType> = { [K in T]: z.infer<EnvelopeSchemas[K]> }[T];

export function isEventType(value: string): value is EventType {
  return value in eventDataSchemas;
}

/** Validates an event as received (from Kafka, from the outbox): its envelope and its payload. */
export function parseEvent(value: unknown): EventEnvelope {
  const type = z.object({ event_type: z.string() }).parse(value).event_type;
  if (!isEventType(type)) throw new z.ZodError([{ code: 'custom', path: ['event_type'], message: `unknown event type ${type}`, input: type }]);
  return eventSchemas[type].parse(value) as EventEnvelope;
}
