import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { inSqlTransaction, sqlOf, type Db } from '../db/prisma.js';
import type { Sql } from '../db/sql.js';
import { shippingAddressSchema } from './events/schemas.js';
import type { OrderStatus, Prisma } from '../generated/prisma/client.js';
import type { Clock } from './clock.js';
import { ConflictError, IllegalTransitionError, NotFoundError, OrderStatusConflictError, ValidationError } from './errors.js';
import { commitReservation } from './inventory.js';
import { Decimal, toApiAmount } from './money.js';
import { outboxRow, recordEvent, type OutboxRow } from './outbox.js';

export type { OrderStatus } from '../generated/prisma/client.js';
export { shippingAddressSchema };
export type ShippingAddress = z.infer<typeof shippingAddressSchema>;

export interface OrderDeps {
  db: Db | Sql;
  clock: Clock;
}

/** The most of one item a single order line may ask for; more is a typo or abuse, not a purchase. */
export const MAX_QUANTITY_PER_LINE = 100;
export const MAX_LINES_PER_ORDER = 50;

export const orderLineSchema = z.strictObject({
  productId: z.uuid(),
  variantId: z.uuid().optional(),
  quantity: z.number().int().min(1).max(MAX_QUANTITY_PER_LINE),
});
export type OrderLine = z.infer<typeof orderLineSchema>;

/** What the client pays with: a card token from the payment provider (never card numbers). */
export const orderPaymentSchema = z.strictObject({ method: z.literal('card'), token: z.string().min(1).max(255) });
export type OrderPayment = z.infer<typeof orderPaymentSchema>;

const createOrderSchema = z.strictObject({
  id: z.uuid().optional(),
  userId: z.string().min(1),
  items: z.array(orderLineSchema).min(1).max(MAX_LINES_PER_ORDER),
  shippingAddress: shippingAddressSchema,
  payment: orderPaymentSchema,
  correlationId: z.string().min(1),
  traceId: z.string().min(1).optional(),
});
export type CreateOrderInput = z.input<typeof createOrderSchema>;

/** An order with its items (in position order) and its timeline (oldest first), as getOrder reads it. */
export type OrderWithDetails = Prisma.OrderGetPayload<{ include: { items: true; timeline: true } }>;

/**
 * Which status may follow which (CONTRACT §3). `awaiting_payment` is entered only when the
 * payment needs the customer's action (3-D Secure); confirmed, failed and cancelled are final.
 */
const transitions: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['inventory_reserved', 'failed', 'cancelled'],
  inventory_reserved: ['awaiting_payment', 'confirmed', 'failed', 'cancelled'],
  awaiting_payment: ['confirmed', 'failed', 'cancelled'],
  confirmed: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return transitions[from].includes(to);
}

/**
 * The statuses in which each saga step may act on an order: the one it moves the order on from,
 * and the ones a repeat of the step finds once it took effect. In any other status the order was
 * decided elsewhere (failed, cancelled, confirmed), and the step must leave it alone.
 */
const stepStatuses = {
  reserveInventory: ['pending', 'inventory_reserved'],
  chargePayment: ['inventory_reserved', 'awaiting_payment'],
  completePayment: ['awaiting_payment'],
  confirmOrder: ['inventory_reserved', 'awaiting_payment', 'confirmed'],
} as const satisfies Record<string, readonly OrderStatus[]>;
export type SagaStep = keyof typeof stepStatuses;

/** Throws OrderStatusConflictError (non-retryable) unless the order's status allows the step. */
export function assertStepAllowed(order: { id: string; status: OrderStatus }, step: SagaStep): void {
  const allowed: readonly OrderStatus[] = stepStatuses[step];
  if (!allowed.includes(order.status)) throw new OrderStatusConflictError(order.id, order.status, step, allowed);
}

export function formatOrderNumber(year: number, sequence: bigint | number): string {
  return `ORD-${year}-${String(sequence).padStart(5, '0')}`;
}

function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(z.prettifyError(parsed.error), { issues: parsed.error.issues });
  }
  return parsed.data;
}

/**
 * Places an order: prices come from the catalog (never from the caller), the total is computed in
 * decimal, and the order (with what it is paid with, so its saga can be started from the row
 * alone), its items, its first timeline entry and `order.created` are written in one transaction.
 * Passing `id` makes it idempotent: an order that already has that id is returned.
 */
export async function createOrder(deps: OrderDeps, input: CreateOrderInput): Promise<OrderWithDetails> {
  const order = parseInput(createOrderSchema, input);
  const id = order.id ?? randomUUID();
  const placed = await inSqlTransaction(deps.db, async (tx) => {
    const [existing] = await tx.$queryRaw<{ userId: string }[]>`SELECT user_id AS "userId" FROM orders WHERE id = ${id}::uuid`;
    if (existing?.userId === order.userId) return undefined;
    if (existing) throw new ValidationError(`order id ${id} is already taken`);

    const lines = await priceLines(tx, order.items);
    const currencies = new Set(lines.map((l) => l.currency));
    if (currencies.size > 1) {
      throw new ConflictError(`items are priced in different currencies (${[...currencies].join(', ')})`);
    }
    const currency = lines[0]!.currency;
    const total = lines.reduce((sum, l) => sum.add(l.lineTotal), new Decimal(0));
    const now = deps.clock();
    const [{ next }] = await tx.$queryRaw<[{ next: bigint }]>`SELECT nextval('order_number_seq') AS next`;
    const orderNumber = formatOrderNumber(now.getUTCFullYear(), next);
    const traceId = order.traceId ?? randomBytes(16).toString('hex');

    const items = lines.map((l, position) => ({
      id: randomUUID(),
      orderId: id,
      position,
      productId: l.productId,
      variantId: l.variantId,
      sku: l.sku,
      name: l.name,
      quantity: l.quantity,
      unitPrice: l.unitPrice,
      lineTotal: l.lineTotal,
    }));
    // The order, its items and its first timeline entry in one statement; what was written is returned as built here.
    const [entry] = await tx.$queryRaw<[{ id: bigint }]>`
      WITH placed AS (
        INSERT INTO orders (id, order_number, user_id, status, total, currency, shipping_address, correlation_id, trace_id,
                            payment_method, payment_token, created_at, updated_at)
        VALUES (${id}::uuid, ${orderNumber}, ${order.userId}, 'pending', ${total.toFixed(2)}::numeric, ${currency},
                ${JSON.stringify(order.shippingAddress)}::jsonb, ${order.correlationId}, ${traceId}, ${order.payment.method},
                ${order.payment.token}, ${now}, ${now})
        RETURNING id),
      lines AS (
        INSERT INTO order_items (id, order_id, position, product_id, variant_id, sku, name, quantity, unit_price, line_total)
        SELECT item.id, placed.id, item.position, item.product_id, item.variant_id, item.sku, item.name, item.quantity,
               item.unit_price, item.line_total
        FROM placed, unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.position)}::int[],
                            ${items.map((i) => i.productId)}::uuid[], ${items.map((i) => i.variantId)}::uuid[],
                            ${items.map((i) => i.sku)}::text[], ${items.map((i) => i.name)}::text[],
                            ${items.map((i) => i.quantity)}::int[], ${items.map((i) => i.unitPrice.toFixed(2))}::numeric[],
                            ${items.map((i) => i.lineTotal.toFixed(2))}::numeric[])
          AS item(id, position, product_id, variant_id, sku, name, quantity, unit_price, line_total))
      INSERT INTO order_status_history (order_id, from_status, status, reason, created_at)
      SELECT id, NULL, 'pending', NULL, ${now} FROM placed
      RETURNING id`;
    await recordEvent(tx, {
      eventType: 'order.created',
      aggregate: { type: 'order', id },
      context: { correlationId: order.correlationId, userId: order.userId, traceId },
      occurredAt: now,
      data: {
        order_id: id,
        order_number: orderNumber,
        user_id: order.userId,
        total: toApiAmount(total),
        currency,
        items: lines.map((l) => ({ product_id: l.productId, quantity: l.quantity, price: toApiAmount(l.unitPrice) })),
        shipping_address: order.shippingAddress,
      },
    });
    return {
      id,
      orderNumber,
      userId: order.userId,
      status: 'pending' as const,
      total,
      currency,
      shippingAddress: order.shippingAddress,
      failureReason: null,
      correlationId: order.correlationId,
      traceId,
      paymentMethod: order.payment.method,
      paymentToken: order.payment.token,
      createdAt: now,
      updatedAt: now,
      items,
      timeline: [{ id: entry.id, orderId: id, fromStatus: null, status: 'pending' as const, reason: null, createdAt: now }],
    };
  });
  return placed ?? getOrder(deps.db, id);
}

interface PricedLine {
  productId: string;
  variantId: string;
  sku: string;
  name: string;
  quantity: number;
  unitPrice: Decimal;
  lineTotal: Decimal;
  currency: string;
}

/** Resolves each line to an active variant (the product's default one when none is named) and its price. */
async function priceLines(tx: Sql, items: OrderLine[]): Promise<PricedLine[]> {
  // Each active product asked for, with its active variants in catalog order (none: a NULL variant).
  const rows = await tx.$queryRaw<{ productId: string; productName: string; variantId: string | null; sku: string; variantName: string; price: string; currency: string }[]>`
    SELECT p.id::text AS "productId", p.name AS "productName", v.id::text AS "variantId", v.sku, v.name AS "variantName",
           v.price::text AS price, v.currency
    FROM products p LEFT JOIN product_variants v ON v.product_id = p.id AND v.active
    WHERE p.id = ANY(${items.map((i) => i.productId)}::uuid[]) AND p.active
    ORDER BY p.id, v.position`;
  return items.map((item) => {
    const variants = rows.filter((r) => r.productId === item.productId);
    if (!variants.length) throw new NotFoundError('product', item.productId);
    const variant = item.variantId ? variants.find((v) => v.variantId === item.variantId) : variants[0];
    if (!variant?.variantId) throw new NotFoundError('variant', item.variantId ?? `of product ${item.productId}`);
    const unitPrice = new Decimal(variant.price);
    return {
      productId: variant.productId,
      variantId: variant.variantId,
      sku: variant.sku,
      name: variant.variantName === variant.productName ? variant.productName : `${variant.productName} (${variant.variantName})`,
      quantity: item.quantity,
      unitPrice,
      lineTotal: unitPrice.mul(item.quantity),
      currency: variant.currency,
    };
  });
}

/** An order with its items and timeline, in one statement. */
export async function getOrder(db: Db | Sql, orderId: string): Promise<OrderWithDetails> {
  type Row = Omit<OrderWithDetails, 'total' | 'items' | 'timeline'> & {
    total: string;
    items: (Omit<OrderWithDetails['items'][number], 'unitPrice' | 'lineTotal'> & { unitPrice: string; lineTotal: string })[];
    timeline: (Omit<OrderWithDetails['timeline'][number], 'id' | 'createdAt'> & { id: string; createdAt: string })[];
  };
  const [order] = await sqlOf(db).$queryRaw<Row[]>`
    SELECT o.id::text AS id, o.order_number AS "orderNumber", o.user_id AS "userId", o.status::text AS status,
           o.total::text AS total, o.currency, o.shipping_address AS "shippingAddress", o.failure_reason AS "failureReason",
           o.correlation_id AS "correlationId", o.trace_id AS "traceId", o.payment_method AS "paymentMethod",
           o.payment_token AS "paymentToken", o.created_at AS "createdAt", o.updated_at AS "updatedAt",
           (SELECT coalesce(json_agg(json_build_object(
                      'id', i.id, 'orderId', i.order_id, 'position', i.position, 'productId', i.product_id, 'variantId', i.variant_id,
                      'sku', i.sku, 'name', i.name, 'quantity', i.quantity, 'unitPrice', i.unit_price::text, 'lineTotal', i.line_total::text)
                    ORDER BY i.position), '[]')
            FROM order_items i WHERE i.order_id = o.id) AS items,
           (SELECT coalesce(json_agg(json_build_object(
                      'id', h.id::text, 'orderId', h.order_id, 'fromStatus', h.from_status, 'status', h.status, 'reason', h.reason,
                      'createdAt', h.created_at)
                    ORDER BY h.id), '[]')
            FROM order_status_history h WHERE h.order_id = o.id) AS timeline
    FROM orders o WHERE o.id = ${orderId}::uuid`;
  if (!order) throw new NotFoundError('order', orderId);
  return {
    ...order,
    total: new Decimal(order.total),
    items: order.items.map((i) => ({ ...i, unitPrice: new Decimal(i.unitPrice), lineTotal: new Decimal(i.lineTotal) })),
    timeline: order.timeline.map((h) => ({ ...h, id: BigInt(h.id), createdAt: new Date(h.createdAt) })),
  };
}

/** What a saga step reads of its order: its status, what it costs, who its events name, and its lines. */
export interface StepOrder {
  id: string;
  status: OrderStatus;
  total: Decimal;
  currency: string;
  userId: string;
  correlationId: string;
  traceId: string;
  items: { variantId: string; quantity: number }[];
}

/** An order as a saga step needs it, in one statement (getOrder reads its whole timeline too). */
export async function getStepOrder(db: Db | Sql, orderId: string): Promise<StepOrder> {
  const [order] = await sqlOf(db).$queryRaw<(Omit<StepOrder, 'total'> & { total: string })[]>`
    SELECT o.id::text AS id, o.status::text AS status, o.total::text AS total, o.currency, o.user_id AS "userId",
           o.correlation_id AS "correlationId", o.trace_id AS "traceId",
           (SELECT json_agg(json_build_object('variantId', i.variant_id, 'quantity', i.quantity) ORDER BY i.position)
            FROM order_items i WHERE i.order_id = o.id) AS items
    FROM orders o WHERE o.id = ${orderId}::uuid`;
  if (!order) throw new NotFoundError('order', orderId);
  return { ...order, total: new Decimal(order.total), items: order.items ?? [] };
}

/**
 * Orders still `pending` that were placed before `placedBefore` and carry what their saga needs,
 * oldest first: those whose request may have ended without starting their saga.
 */
export function listPendingOrders(db: Db, query: { placedBefore: Date; limit: number }) {
  return db.order.findMany({
    where: { status: 'pending', createdAt: { lt: query.placedBefore }, paymentToken: { not: null } },
    orderBy: { createdAt: 'asc' },
    take: query.limit,
  });
}

export interface TransitionOrderInput {
  orderId: string;
  to: OrderStatus;
  /** Why: required for `failed` (becomes failure_reason, e.g. `out_of_stock`) and `cancelled`. */
  reason?: string;
}

/**
 * Moves an order to another status under a row lock. An illegal move throws IllegalTransitionError
 * and writes nothing; moving to the status it already has is a no-op (a retried step). A legal move
 * writes a timeline entry and, into a final status, its one event (order.confirmed / failed /
 * cancelled) in the same transaction. The intermediate statuses are announced by the inventory and
 * payment events of the steps that caused them.
 */
export async function transitionOrder(deps: OrderDeps, input: TransitionOrderInput): Promise<OrderWithDetails> {
  await advanceOrder(deps, input);
  return getOrder(deps.db, input.orderId);
}

/** transitionOrder for callers that need nothing back: the saga's steps, which run on every order. */
export async function advanceOrder(deps: OrderDeps, input: TransitionOrderInput): Promise<void> {
  if ((input.to === 'failed' || input.to === 'cancelled') && !input.reason) {
    throw new ValidationError(`a reason is required to move an order to ${input.to}`);
  }
  await inSqlTransaction(deps.db, async (tx) => moveLockedOrder(tx, await lockOrder(tx, input.orderId), input, deps.clock()));
}

/** The order row as a status change needs it: its status, and what its events name. */
interface LockedOrder {
  id: string;
  status: OrderStatus;
  orderNumber: string;
  userId: string;
  total: string;
  currency: string;
  correlationId: string;
  traceId: string;
}

/** An order's row, locked until the transaction ends. */
async function lockOrder(tx: Sql, orderId: string): Promise<LockedOrder> {
  const [locked] = await tx.$queryRaw<LockedOrder[]>`
    SELECT id::text AS id, status::text AS status, order_number AS "orderNumber", user_id AS "userId",
           total::text AS total, currency, correlation_id AS "correlationId", trace_id AS "traceId"
    FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
  if (!locked) throw new NotFoundError('order', orderId);
  return locked;
}

async function moveLockedOrder(
  tx: Sql,
  order: LockedOrder,
  { to, reason }: TransitionOrderInput,
  now: Date,
): Promise<void> {
  const from = order.status;
  if (from === to) return;
  if (!canTransition(from, to)) throw new IllegalTransitionError('order', order.id, from, to);

  const event = finalStatusEvent(order, to, reason, now);
  if (!event) {
    // One statement: the new status and its timeline entry.
    await tx.$executeRaw`
      WITH moved AS (
        UPDATE orders SET status = ${to}::order_status, updated_at = ${now}
        WHERE id = ${order.id}::uuid
        RETURNING id)
      INSERT INTO order_status_history (order_id, from_status, status, reason, created_at)
      SELECT id, ${from}::order_status, ${to}::order_status, ${reason ?? null}::text, ${now} FROM moved`;
    return;
  }
  // One statement: the final status, its timeline entry and its event in the outbox.
  await tx.$executeRaw`
    WITH moved AS (
      UPDATE orders
      SET status = ${to}::order_status, updated_at = ${now},
          failure_reason = CASE WHEN ${to}::text = 'failed' THEN ${reason ?? null}::text ELSE failure_reason END
      WHERE id = ${order.id}::uuid
      RETURNING id),
    entry AS (
      INSERT INTO order_status_history (order_id, from_status, status, reason, created_at)
      SELECT id, ${from}::order_status, ${to}::order_status, ${reason ?? null}::text, ${now} FROM moved)
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, topic, payload, headers, created_at)
    SELECT ${event.eventId}::uuid, ${event.aggregateType}, ${event.aggregateId}, ${event.eventType}, ${event.topic},
           ${event.payload}::jsonb, ${event.headers}::jsonb, ${event.createdAt}
    FROM moved
    ON CONFLICT (event_id) DO NOTHING`;
}

/** The one event of a move into a final status (order.confirmed / failed / cancelled); none for the others. */
function finalStatusEvent(order: LockedOrder, to: OrderStatus, reason: string | undefined, now: Date): OutboxRow | undefined {
  const context = { correlationId: order.correlationId, userId: order.userId, traceId: order.traceId };
  const ref = { order_id: order.id, order_number: order.orderNumber, user_id: order.userId };
  const aggregate = { type: 'order', id: order.id } as const;
  if (to === 'confirmed') {
    return outboxRow({
      eventType: 'order.confirmed',
      aggregate,
      context,
      occurredAt: now,
      data: { ...ref, total: toApiAmount(order.total), currency: order.currency, confirmed_at: now.toISOString() },
    });
  }
  if (to === 'failed') {
    return outboxRow({
      eventType: 'order.failed',
      aggregate,
      context,
      occurredAt: now,
      data: { ...ref, reason: reason!, failed_at: now.toISOString() },
    });
  }
  if (to === 'cancelled') {
    return outboxRow({
      eventType: 'order.cancelled',
      aggregate,
      context,
      occurredAt: now,
      data: { ...ref, reason: reason!, cancelled_at: now.toISOString() },
    });
  }
  return undefined;
}

/**
 * Confirms an order: its reservation committed (the units leave stock, `inventory.committed`) and
 * the order `confirmed` (`order.confirmed`) in one transaction, so that neither happens without the
 * other, and only while the order's status allows it (OrderStatusConflictError otherwise).
 * Idempotent: confirming a confirmed order changes nothing.
 */
export async function confirmOrder(deps: OrderDeps, input: { orderId: string }): Promise<void> {
  await inSqlTransaction(deps.db, async (tx) => {
    const order = await lockOrder(tx, input.orderId);
    assertStepAllowed(order, 'confirmOrder');
    await commitReservation({ db: tx, clock: deps.clock }, input, {
      correlationId: order.correlationId,
      userId: order.userId,
      traceId: order.traceId,
    });
    await moveLockedOrder(tx, order, { orderId: order.id, to: 'confirmed' }, deps.clock());
  });
}
