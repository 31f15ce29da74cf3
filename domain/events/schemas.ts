import { z } from 'zod';

/**
 * One versioned schema per event type (CONTRACT §4). The payloads of order.created,
 * payment.success and inventory.reserved are the seed's examples field for field; the others
 * follow the same conventions: snake_case, ids as uuids, money as JSON numbers with an ISO 4217
 * currency beside it, times as ISO 8601 in UTC.
 *
 * Each schema exists twice. The writer's is strict: the events this release writes match the
 * contract field for field. The reader's is tolerant, because during a rolling deploy a newer
 * producer's events arrive before the readers are upgraded: it drops fields it does not know and
 * reads any minor version of its major one (a minor version only adds fields).
 */

export const EVENT_VERSION = '1.0';

/** The versions a reader of EVENT_VERSION can read: the same major version, any minor one. */
const major = EVENT_VERSION.split('.')[0]!;
const readableVersion = z.string().regex(new RegExp(`^${major}\\.\\d+$`), `a ${major}.x version`);

/** How an object treats a field it does not know: refused (writer) or dropped (reader). */
type ObjectOf<Config extends z.core.$ZodObjectConfig> = <Shape extends z.core.$ZodLooseShape>(shape: Shape) => z.ZodObject<Shape, Config>;

const uuid = z.uuid();
const money = z.number().nonnegative().multipleOf(0.01);
const currency = z.string().regex(/^[A-Z]{3}$/);
const timestamp = z.iso.datetime();
const quantity = z.number().int().positive();

function shippingAddress<Config extends z.core.$ZodObjectConfig>(object: ObjectOf<Config>) {
  return object({
    address_line1: z.string().min(1).max(200),
    address_line2: z.string().min(1).max(200).optional(),
    city: z.string().min(1).max(100),
    state: z.string().min(1).max(100),
    postal_code: z.string().min(1).max(20),
    country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code'),
  });
}

const strict: ObjectOf<z.core.$strict> = (shape) => z.strictObject(shape);
const tolerant: ObjectOf<z.core.$strip> = (shape) => z.strictObject(shape).strip();

export const shippingAddressSchema = shippingAddress(strict);

function dataSchemas<Config extends z.core.$ZodObjectConfig>(object: ObjectOf<Config>) {
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
  const reservedLine = object({ product_id: uuid, quantity, warehouse_id: uuid });
  return {
    'order.created': object({
      ...orderRef,
      total: money,
      currency,
      items: z.array(object({ product_id: uuid, quantity, price: money })).min(1),
      shipping_address: shippingAddress(object),
    }),
    'order.confirmed': object({ ...orderRef, total: money, currency, confirmed_at: timestamp }),
    'order.failed': object({ ...orderRef, reason: z.string().min(1), failed_at: timestamp }),
    'order.cancelled': object({ ...orderRef, reason: z.string().min(1), cancelled_at: timestamp }),

    'payment.success': object(paymentRef),
    'payment.failed': object({ ...paymentRef, reason: z.string().min(1), decline_code: z.string().min(1) }),
    'payment.refunded': object({ ...paymentRef, provider_refund_id: z.string().min(1), refunded_at: timestamp }),

    'inventory.reserved': object({
      reservation_id: uuid,
      order_id: uuid,
      reservations: z.array(reservedLine).min(1),
      expires_at: timestamp,
    }),
    'inventory.reservation.failed': object({
      order_id: uuid,
      reason: z.literal('out_of_stock'),
      items: z.array(object({ product_id: uuid, requested: quantity, available: z.number().int().nonnegative() })).min(1),
    }),
    'inventory.released': object({
      reservation_id: uuid,
      order_id: uuid,
      reason: z.string().min(1),
      reservations: z.array(reservedLine).min(1),
    }),
    'inventory.committed': object({ reservation_id: uuid, order_id: uuid, reservations: z.array(reservedLine).min(1) }),

    'notification.sent': object({
      notification_id: uuid,
      order_id: uuid,
      user_id: z.string().min(1),
      channel: z.enum(['email']),
      template: z.string().min(1),
      sent_at: timestamp,
    }),

    'product.updated': object({
      product_id: uuid,
      name: z.string().min(1),
      category: z.string().min(1),
      price: money,
      currency,
      active: z.boolean(),
    }),
    'product.stock_changed': object({
      product_id: uuid,
      warehouse_id: uuid,
      on_hand: z.number().int().nonnegative(),
      reserved: z.number().int().nonnegative(),
      available: z.number().int().nonnegative(),
    }),
  };
}

export const eventDataSchemas = dataSchemas(strict);

export type EventType = keyof typeof eventDataSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];

type DataSchemas<Config extends z.core.$ZodObjectConfig> = ReturnType<typeof dataSchemas<Config>>;

/** The seed's "Event Schema Standard" around a payload. */
function envelopeOf<T extends EventType, Config extends z.core.$ZodObjectConfig, Version extends z.ZodType<string>>(
  eventType: T,
  object: ObjectOf<Config>,
  data: DataSchemas<Config>[T],
  version: Version,
) {
  return object({
    event_id: uuid,
    event_type: z.literal(eventType),
    event_version: version,
    timestamp,
    source_service: z.string().min(1),
    correlation_id: z.string().min(1),
    data,
    metadata: object({ user_id: z.string().min(1), trace_id: z.string().min(1) }),
  });
}

const writerEnvelope = <T extends EventType>(t: T) => envelopeOf(t, strict, eventDataSchemas[t], z.literal(EVENT_VERSION));
type EnvelopeSchemas = { [T in EventType]: ReturnType<typeof writerEnvelope<T>> };

/** The writer's schemas: what this release's events must be (domain/outbox.ts checks each before it is recorded). */
export const eventSchemas = Object.fromEntries(eventTypes.map((t) => [t, writerEnvelope(t)])) as EnvelopeSchemas;

export type EventEnvelope<T extends EventType = EventType> = { [K in T]: z.infer<EnvelopeSchemas[K]> }[T];

const readerData = dataSchemas(tolerant);
const readerSchemas = new Map(eventTypes.map((t) => [t, envelopeOf(t, tolerant, readerData[t], readableVersion)]));

export function isEventType(value: string): value is EventType {
  return value in eventDataSchemas;
}

/** Validates an event against the writer's schema: exactly an event of this release. */
export function parseEvent(value: unknown): EventEnvelope {
  const type = z.object({ event_type: z.string() }).parse(value).event_type;
  if (!isEventType(type)) throw new z.ZodError([{ code: 'custom', path: ['event_type'], message: `unknown event type ${type}`, input: type }]);
  return eventSchemas[type].parse(value) as EventEnvelope;
}

/**
 * Reads a received event of a known type as a tolerant reader: the fields this release knows are
 * checked and kept, the others dropped; a version of another major one is refused.
 */
export function readEvent<T extends EventType>(type: T, value: unknown): EventEnvelope<T> {
  return readerSchemas.get(type)!.parse(value) as EventEnvelope<T>;
}
