import { randomUUID } from 'node:crypto';
import { cartOrderLines, removeOrderedCartLines } from '../domain/cart.js';
import { type Clock } from '../domain/clock.js';
import { IllegalTransitionError, NotFoundError } from '../domain/errors.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  IdempotencyKeyTakenError,
  interruptIdempotencyKey,
  lookUpIdempotencyKey,
  releaseIdempotencyKey,
  requestHash,
  type StoredResponse,
} from '../domain/idempotency.js';
import { canTransition, createOrder, getOrder, transitionOrder, type OrderLine } from '../domain/orders.js';
import { type Prisma } from '../generated/prisma/client.js';
import { type Database } from './database.js';
import { sagaSurelyNotStarted, type OrderSagaGateway } from './order-saga-client.js';
import { type SubmitOrderBody } from './schemas.js';

export interface OrderServiceDeps {
  db: Database;
  saga: OrderSagaGateway;
  clock: Clock;
  /** How long a repeated Idempotency-Key waits for the first request to finish. */
  idempotencyWaitMs: number;
  /** How old an unanswered claim must be before a repeat takes its work over (see resumeOrder). */
  idempotencyAbandonedAfterMs: number;
}

export interface SubmitOrderRequest {
  userId: string;
  correlationId: string;
  traceId?: string;
  idempotencyKey?: string;
  body: SubmitOrderBody;
}

export interface SubmittedOrder {
  body: { order_id: string; order_number: string; status: 'pending'; workflow_id: string };
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

/** Why an order whose saga could not be started is failed (the client is told 503 and may retry). */
const SAGA_NOT_STARTED = 'saga_not_started';

/**
 * POST /orders. Writes the order (`pending`), `order.created` and the Idempotency-Key claim in one
 * transaction, then starts `OrderSaga`. Temporal is asked first, so while it is down nothing is
 * written; if the start fails anyway, see settleFailedStart. Concurrent repeats of one key wait for
 * the first and get its response; the key's primary key and the workflow id both make sure that
 * one order and one saga exist.
 */
export async function submitOrder(deps: OrderServiceDeps, request: SubmitOrderRequest): Promise<SubmittedOrder> {
  const { userId, idempotencyKey: key, body } = request;
  const hash = requestHash(body);
  for (;;) {
    if (key) {
      const found = await deps.db.run(
        (db) =>
          lookUpIdempotencyKey(
            db,
            { userId, key, requestHash: hash },
            { waitMs: deps.idempotencyWaitMs, abandonedAfterMs: deps.idempotencyAbandonedAfterMs },
          ),
        { timeoutMs: deps.idempotencyWaitMs + 5_000 },
      );
      if (found.state === 'completed') return { body: found.response.body as SubmittedOrder['body'], replayed: true };
      if (found.state === 'abandoned') return resumeOrder(deps, request, found.resourceId);
    }
    await deps.saga.ensureAvailable();
    try {
      return await placeOrder(deps, request, hash);
    } catch (error) {
      // Another request with this key won the claim: wait for its answer.
      if (!(error instanceof IdempotencyKeyTakenError)) throw error;
    }
  }
}

async function placeOrder(deps: OrderServiceDeps, request: SubmitOrderRequest, hash: string): Promise<SubmittedOrder> {
  const { userId, idempotencyKey: key, body } = request;
  const orderId = randomUUID();
  const { order, cartItemIds } = await deps.db.sqlTransaction(async (tx) => {
    if (key) await claimIdempotencyKey(tx, { userId, key, requestHash: hash, resourceId: orderId });
    const { lines, cartItemIds } = 'items' in body ? { lines: requestedLines(body.items), cartItemIds: [] } : await cartOrderLines(tx, userId);
    const order = await createOrder(
      { db: tx, clock: deps.clock },
      {
        id: orderId,
        userId,
        items: lines,
        shippingAddress: body.shipping_address,
        payment: body.payment,
        correlationId: request.correlationId,
        traceId: request.traceId,
      },
    );
    return { order, cartItemIds };
  });

  let workflowId: string;
  try {
    workflowId = await deps.saga.start(order);
  } catch (error) {
    await settleFailedStart(deps, request, orderId, error);
    throw error;
  }

  const accepted: SubmittedOrder['body'] = {
    order_id: orderId,
    order_number: order.orderNumber,
    status: 'pending',
    workflow_id: workflowId,
  };
  const response: StoredResponse = { status: 202, body: accepted };
  if (key || cartItemIds.length) {
    await deps.db.sqlTransaction(async (tx) => {
      if (key) await completeIdempotencyKey(tx, { userId, key }, response);
      if (cartItemIds.length) await removeOrderedCartLines(tx, cartItemIds);
    });
  }
  return { body: accepted, replayed: false };
}

/**
 * After the saga of a new order failed to start (the client is answered 503 and may retry). Only
 * when the saga surely did not start is the order failed and the key released, so that a retry
 * places the order anew. When the start's outcome is unknown (a timeout, a lost reply), the saga
 * may be running: the order stays pending and the key's claim is marked interrupted, so that a
 * retry with the key resumes this very order (resumeOrder) instead of placing a second one; the
 * housekeeping schedule starts the saga of an order left pending without one.
 */
async function settleFailedStart(deps: OrderServiceDeps, request: SubmitOrderRequest, orderId: string, error: unknown): Promise<void> {
  const { userId, idempotencyKey: key } = request;
  if (sagaSurelyNotStarted(error)) {
    await deps.db.transaction(async (tx) => {
      await transitionOrder({ db: tx, clock: deps.clock }, { orderId, to: 'failed', reason: SAGA_NOT_STARTED });
      if (key) await releaseIdempotencyKey(tx, { userId, key });
    });
  } else if (key) {
    await deps.db.run((db) => interruptIdempotencyKey(db, { userId, key }));
  }
}

/**
 * Finishes the work of a request that wrote its order and did not answer with it (its process
 * crashed, or its saga start went unanswered): the retry carries the same body, so it starts the
 * order's saga (a no-op if the first request got that far, as the workflow id is the order's) and
 * stores the answer the first would have given. The client gets one order.
 */
async function resumeOrder(deps: OrderServiceDeps, request: SubmitOrderRequest, orderId: string): Promise<SubmittedOrder> {
  const { userId, idempotencyKey: key } = request;
  const order = await deps.db.run((db) => getOrder(db, orderId));
  await deps.saga.ensureAvailable();
  const workflowId = await deps.saga.start(order);
  const accepted: SubmittedOrder['body'] = { order_id: orderId, order_number: order.orderNumber, status: 'pending', workflow_id: workflowId };
  if (key) await deps.db.run((db) => completeIdempotencyKey(db, { userId, key }, { status: 202, body: accepted }));
  return { body: accepted, replayed: true };
}

function requestedLines(items: { product_id: string; variant_id?: string; quantity: number }[]): OrderLine[] {
  return items.map((i) => ({ productId: i.product_id, variantId: i.variant_id, quantity: i.quantity }));
}

const orderDetails = {
  items: { orderBy: { id: 'asc' } },
  timeline: { orderBy: { id: 'asc' } },
  payments: { orderBy: { createdAt: 'desc' }, take: 1 },
} as const satisfies Prisma.OrderInclude;
export type OrderDetails = Prisma.OrderGetPayload<{ include: typeof orderDetails }>;

/** One of the caller's orders; another user's order is as missing as one that does not exist. */
export async function getOrderOfUser(db: Database, userId: string, orderId: string): Promise<OrderDetails> {
  const order = await db.run((prisma) => prisma.order.findFirst({ where: { id: orderId, userId }, include: orderDetails }));
  if (!order) throw new NotFoundError('order', orderId);
  return order;
}

export interface OrderPage {
  orders: { id: string; orderNumber: string; status: OrderDetails['status']; total: OrderDetails['total']; currency: string; createdAt: Date }[];
  nextCursor: string | null;
}

/** The caller's orders, newest first; `cursor` is the last order id of the previous page. */
export async function listOrdersOfUser(db: Database, userId: string, page: { limit: number; cursor?: string }): Promise<OrderPage> {
  const rows = await db.run((prisma) =>
    prisma.order.findMany({
      where: { userId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: page.limit + 1,
      ...(page.cursor ? { cursor: { id: page.cursor }, skip: 1 } : {}),
      select: { id: true, orderNumber: true, status: true, total: true, currency: true, createdAt: true },
    }),
  );
  const orders = rows.slice(0, page.limit);
  return { orders, nextCursor: rows.length > page.limit ? orders.at(-1)!.id : null };
}

/**
 * Asks an order's saga to cancel it, and answers only once the saga has: accepted, the saga undoes
 * what was done and ends the order `cancelled`. An order past the point of no return (confirming or
 * confirmed), or failed or cancelled already, is refused: IllegalTransitionError (409).
 */
export async function requestCancellation(
  deps: Pick<OrderServiceDeps, 'db' | 'saga'>,
  userId: string,
  orderId: string,
): Promise<{ orderId: string; status: OrderDetails['status'] }> {
  const order = await getOrderOfUser(deps.db, userId, orderId);
  if (canTransition(order.status, 'cancelled')) {
    const answer = await deps.saga.cancel(orderId, 'customer_request');
    if (answer.accepted) return { orderId, status: answer.status };
    if (answer.refusal) throw new IllegalTransitionError('order', orderId, answer.refusal, 'cancelled');
  }
  const current = await getOrderOfUser(deps.db, userId, orderId);
  throw new IllegalTransitionError('order', orderId, current.status, 'cancelled');
}
