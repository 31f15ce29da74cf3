import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/prisma.js';
import type { Clock } from '../domain/clock.js';
import { isAppError } from '../domain/errors.js';
import { releaseReservation, reserveInventory } from '../domain/inventory.js';
import { advanceOrder, assertStepAllowed, confirmOrder, getStepOrder } from '../domain/orders.js';
import { chargePayment, confirmPayment, reversePayment } from '../domain/payments/payments.js';
import type { PaymentProvider } from '../domain/payments/provider.js';

/** What every step knows about the saga it serves: the order, and where the request came from. */
export interface SagaContext {
  orderId: string;
  userId: string;
  correlationId: string;
  traceId?: string;
}

export interface ActivityDeps {
  db: Db;
  clock: Clock;
  payments: PaymentProvider;
}

/**
 * Domain errors become Temporal failures with the error's type; business refusals (out of stock,
 * card declined, validation, illegal transitions) are non-retryable, so Temporal stops at once.
 */
async function asActivity<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isAppError(error)) throw error;
    throw ApplicationFailure.create({
      message: error.message,
      type: error.type,
      nonRetryable: !error.retryable,
      details: [error.details],
      cause: error,
    });
  }
}

/** Lets a provider call stop when Temporal gives up on the attempt (timeout or cancellation). */
const callOptions = () => ({ signal: Context.current().cancellationSignal });

/**
 * The saga's steps: thin wrappers over the domain, each idempotent, so that Temporal may run any
 * of them again after a lost reply or a crashed worker with the effect of running it once. Each
 * forward step first checks that the order's status still allows it and refuses for good
 * (OrderStatusConflict) an order decided elsewhere; the saga then compensates.
 */
export function createActivities({ db, clock, payments }: ActivityDeps) {
  const inventory = { db, clock };
  const payment = { db, clock, provider: payments };

  return {
    /** All items of the order or none; moves the order to `inventory_reserved`. */
    reserveInventory: (context: SagaContext) =>
      asActivity(async () => {
        const order = await getStepOrder(db, context.orderId);
        assertStepAllowed(order, 'reserveInventory');
        const reservation = await reserveInventory(
          inventory,
          { orderId: order.id, lines: order.items.map((item) => ({ variantId: item.variantId, quantity: item.quantity })) },
          { correlationId: order.correlationId, userId: order.userId, traceId: order.traceId },
        );
        await advanceOrder(inventory, { orderId: order.id, to: 'inventory_reserved' });
        return {
          reservationId: reservation.id,
          expiresAt: reservation.expiresAt.toISOString(),
          // A duration measured on the clock that set the expiry: the workflow's timer does not
          // depend on this worker's clock agreeing with the Temporal server's.
          expiresInMs: reservation.expiresAt.getTime() - clock().getTime(),
        };
      }),

    releaseReservation: (context: SagaContext & { reason: string }) =>
      asActivity(async () => {
        await releaseReservation(inventory, { orderId: context.orderId, reason: context.reason });
      }),

    /** Charges the order's total once (idempotency key = order id); 3-D Secure moves the order to `awaiting_payment`. */
    chargePayment: (context: SagaContext & { token: string }) =>
      asActivity(async () => {
        const order = await getStepOrder(db, context.orderId);
        assertStepAllowed(order, 'chargePayment');
        const charged = await chargePayment(payment, { order, token: context.token }, callOptions());
        if (charged.status === 'requires_action') {
          await advanceOrder(inventory, { orderId: order.id, to: 'awaiting_payment' });
        }
        return { status: charged.status as 'succeeded' | 'requires_action', paymentId: charged.paymentId };
      }),

    /** After the webhook's signal: the provider's word on the 3-D Secure payment, recorded. */
    completePayment: (context: SagaContext) =>
      asActivity(async () => {
        assertStepAllowed(await getStepOrder(db, context.orderId), 'completePayment');
        await confirmPayment(payment, { orderId: context.orderId }, callOptions());
      }),

    /** Undoes the charge as the provider has it: refunds a paid one (3-D Secure completed or not), voids one still waiting. */
    reversePayment: (context: SagaContext) =>
      asActivity(async () => {
        await reversePayment(payment, { orderId: context.orderId }, callOptions());
      }),

    /** Stock committed and the order `confirmed`, in one transaction that first checks the order's status. */
    confirmOrder: (context: SagaContext) =>
      asActivity(async () => {
        await confirmOrder(inventory, { orderId: context.orderId });
      }),

    failOrder: (context: SagaContext & { reason: string }) =>
      asActivity(async () => {
        await advanceOrder(inventory, { orderId: context.orderId, to: 'failed', reason: context.reason });
      }),

    cancelOrder: (context: SagaContext & { reason: string }) =>
      asActivity(async () => {
        await advanceOrder(inventory, { orderId: context.orderId, to: 'cancelled', reason: context.reason });
      }),
  };
}

export type OrderActivities = ReturnType<typeof createActivities>;
