import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { inTransaction, type Db } from '../db/prisma.js';
import { shippingAddressSchema } from './events/schemas.js';
import type { OrderStatus, Prisma } from '../generated/prisma/client.js';
import type { Clock } from './clock.js';
import { ConflictError, IllegalTransitionError, NotFoundError, OrderStatusConflictError, ValidationError } from './errors.js';
import { commitReservation } from './inventory.js';
import { Decimal, toApiAmount } from './money.js';
import { recordEvent } from './outbox.js';

export type { OrderStatus } from '../generated/prisma/client.js';
export { shippingAddressSchema };
export type ShippingAddress = z.infer<typeof shippingAddressSchema>;

export interface OrderDeps {
  db: Db;
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

const orderWithDetails = {
  items: { orderBy: { position: 'asc' } },
  timeline: { orderBy: { id: 'asc' } },
} as const satisfies Prisma.OrderInclude;
export type OrderWithDetails = Prisma.OrderGetPayload<{ include: typeof orderWithDetails }>;

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
  return inTransaction(deps.db, async (tx) => {
    const existing = await tx.order.findUnique({ where: { id }, include: orderWithDetails });
    if (existing?.userId === order.userId) return existing;
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

    await tx.order.create({
      data: {
        id,
        orderNumber,
        userId: order.userId,
        status: 'pending',
        total,
        currency,
        shippingAddress: order.shippingAddress,
        correlationId: order.correlationId,
        traceId,
        paymentMethod: order.payment.method,
        paymentToken: order.payment.token,
        createdAt: now,
        items: {
          create: lines.map((l, position) => ({
            position,
            productId: l.productId,
            variantId: l.variantId,
            sku: l.sku,
            name: l.name,
            quantity: l.quantity,
            unitPrice: l.unitPrice,
            lineTotal: l.lineTotal,
          })),
        },
        timeline: { create: { fromStatus: null, status: 'pending', createdAt: now } },
      },
    });
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
    return tx.order.findUniqueOrThrow({ where: { id }, include: orderWithDetails });
  });
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
async function priceLines(tx: Prisma.TransactionClient, items: OrderLine[]): Promise<PricedLine[]> {
  const products = await tx.product.findMany({
    where: { id: { in: items.map((i) => i.productId) }, active: true },
    include: { variants: { where: { active: true }, orderBy: { position: 'asc' } } },
  });
  const byId = new Map(products.map((p) => [p.id, p]));
  return items.map((item) => {
    const product = byId.get(item.productId);
    if (!product) throw new NotFoundError('product', item.productId);
    const variant = item.variantId ? product.variants.find((v) => v.id === item.variantId) : product.variants[0];
    if (!variant) throw new NotFoundError('variant', item.variantId ?? `of product ${product.id}`);
    return {
      productId: product.id,
      variantId: variant.id,
      sku: variant.sku,
      name: variant.name === product.name ? product.name : `${product.name} (${variant.name})`,
      quantity: item.quantity,
      unitPrice: variant.price,
      lineTotal: variant.price.mul(item.quantity),
      currency: variant.currency,
    };
  });
}

/** An order with its items and timeline. */
export async function getOrder(db: Db, orderId: string): Promise<OrderWithDetails> {
  const order = await db.order.findUnique({ where: { id: orderId }, include: orderWithDetails });
  if (!order) throw new NotFoundError('order', orderId);
  return order;
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
  const { orderId, to, reason } = input;
  if ((to === 'failed' || to === 'cancelled') && !reason) {
    throw new ValidationError(`a reason is required to move an order to ${to}`);
  }
  return inTransaction(deps.db, async (tx) => {
    const from = await lockOrderStatus(tx, orderId);
    if (from === to) return tx.order.findUniqueOrThrow({ where: { id: orderId }, include: orderWithDetails });
    if (!canTransition(from, to)) throw new IllegalTransitionError('order', orderId, from, to);

    const now = deps.clock();
    const order = await tx.order.update({
      where: { id: orderId },
      data: {
        status: to,
        ...(to === 'failed' ? { failureReason: reason } : {}),
        updatedAt: now,
        timeline: { create: { fromStatus: from, status: to, reason: reason ?? null, createdAt: now } },
      },
    });
    const context = { correlationId: order.correlationId, userId: order.userId, traceId: order.traceId };
    const ref = { order_id: order.id, order_number: order.orderNumber, user_id: order.userId };
    const aggregate = { type: 'order', id: orderId } as const;
    if (to === 'confirmed') {
      await recordEvent(tx, {
        eventType: 'order.confirmed',
        aggregate,
        context,
        occurredAt: now,
        data: { ...ref, total: toApiAmount(order.total), currency: order.currency, confirmed_at: now.toISOString() },
      });
    } else if (to === 'failed') {
      await recordEvent(tx, {
        eventType: 'order.failed',
        aggregate,
        context,
        occurredAt: now,
        data: { ...ref, reason: reason!, failed_at: now.toISOString() },
      });
    } else if (to === 'cancelled') {
      await recordEvent(tx, {
        eventType: 'order.cancelled',
        aggregate,
        context,
        occurredAt: now,
        data: { ...ref, reason: reason!, cancelled_at: now.toISOString() },
      });
    }
    return tx.order.findUniqueOrThrow({ where: { id: orderId }, include: orderWithDetails });
  });
}

/** An order's status, its row locked until the transaction ends. */
async function lockOrderStatus(tx: Prisma.TransactionClient, orderId: string): Promise<OrderStatus> {
  const [locked] = await tx.$queryRaw<{ status: OrderStatus }[]>`
    SELECT status FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
  if (!locked) throw new NotFoundError('order', orderId);
  return locked.status;
}

/**
 * Confirms an order: its reservation committed (the units leave stock, `inventory.committed`) and
 * the order `confirmed` (`order.confirmed`) in one transaction, so that neither happens without the
 * other, and only while the order's status allows it (OrderStatusConflictError otherwise).
 * Idempotent: confirming a confirmed order changes nothing.
 */
export async function confirmOrder(deps: OrderDeps, input: { orderId: string }): Promise<OrderWithDetails> {
  return inTransaction(deps.db, async (tx) => {
    assertStepAllowed({ id: input.orderId, status: await lockOrderStatus(tx, input.orderId) }, 'confirmOrder');
    const inTx = { db: tx, clock: deps.clock };
    await commitReservation(inTx, input);
    return transitionOrder(inTx, { orderId: input.orderId, to: 'confirmed' });
  });
}
