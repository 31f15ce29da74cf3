import { randomUUID } from 'node:crypto';
import { inSqlTransaction, inTransaction, sqlOf, type Db } from '../../db/prisma.js';
import { type Sql } from '../../db/sql.js';
import type { Order, Payment, PaymentStatus, Prisma } from '../../generated/prisma/client.js';
import type { Clock } from '../clock.js';
import {
  IllegalTransitionError,
  NotFoundError,
  PaymentDeclinedError,
  PaymentPendingError,
  ValidationError,
} from '../errors.js';
import { Decimal, toApiAmount, toMinorUnits } from '../money.js';
import { type EventContext } from '../events/envelope.js';
import { orderEventContext, recordEvent } from '../outbox.js';
import type { CallOptions, PaymentProvider, ProviderCharge } from './provider.js';

export interface PaymentDeps {
  db: Db;
  provider: PaymentProvider;
  clock: Clock;
}

/** A payment as the saga and the API see it. */
export interface PaymentSummary {
  paymentId: string;
  orderId: string;
  transactionId: string;
  status: PaymentStatus;
  amount: string;
  currency: string;
  provider: string;
  providerPaymentId: string;
  /** For `requires_action`: where the customer completes 3-D Secure. */
  nextActionUrl: string | null;
}

/** The order a charge is for, as the caller read it: what it costs, and who and which request its events name. */
export type ChargedOrder = Pick<Order, 'id' | 'total' | 'currency' | 'userId' | 'correlationId' | 'traceId'>;

export interface ChargePaymentInput {
  order: ChargedOrder;
  /** The card token from the client (`tok_visa`...). */
  token: string;
}

/** The idempotency keys sent to the provider: one charge, one refund, one void per order. */
const keys = {
  charge: (orderId: string) => orderId,
  refund: (orderId: string) => `refund:${orderId}`,
  void: (orderId: string) => `void:${orderId}`,
};

export function formatTransactionId(year: number, sequence: bigint | number): string {
  return `TXN-${year}-${String(sequence).padStart(5, '0')}`;
}

const statusOf: Record<ProviderCharge['status'], PaymentStatus> = {
  succeeded: 'succeeded',
  requires_action: 'requires_action',
  failed: 'failed',
  refunded: 'refunded',
  canceled: 'voided',
};

function summarize(payment: Payment, nextActionUrl: string | null = null): PaymentSummary {
  return {
    paymentId: payment.id,
    orderId: payment.orderId,
    transactionId: payment.transactionId,
    status: payment.status,
    amount: payment.amount.toFixed(2),
    currency: payment.currency,
    provider: payment.provider,
    providerPaymentId: payment.providerPaymentId,
    nextActionUrl,
  };
}

function declined(payment: Payment): PaymentDeclinedError {
  return new PaymentDeclinedError(payment.failureMessage ?? 'payment declined', {
    orderId: payment.orderId,
    paymentId: payment.id,
    transactionId: payment.transactionId,
    declineCode: payment.declineCode,
  });
}

function paymentRef(payment: Payment) {
  return {
    payment_id: payment.id,
    order_id: payment.orderId,
    transaction_id: payment.transactionId,
    amount: toApiAmount(payment.amount),
    currency: payment.currency,
    payment_method: payment.paymentMethod,
    provider: payment.provider,
    provider_transaction_id: payment.providerPaymentId,
  };
}

/** Announces a payment's outcome: payment.success or payment.failed (requires_action has no event). */
async function announceOutcome(tx: Sql, payment: Payment, now: Date, context?: EventContext): Promise<void> {
  context ??= await orderEventContext(tx, payment.orderId);
  const aggregate = { type: 'order', id: payment.orderId } as const;
  if (payment.status === 'succeeded') {
    await recordEvent(tx, { eventType: 'payment.success', aggregate, context, occurredAt: now, data: paymentRef(payment) });
  } else if (payment.status === 'failed') {
    await recordEvent(tx, {
      eventType: 'payment.failed',
      aggregate,
      context,
      occurredAt: now,
      data: {
        ...paymentRef(payment),
        reason: payment.failureMessage ?? 'payment declined',
        decline_code: payment.declineCode ?? 'card_declined',
      },
    });
  }
}

async function lockPayments(tx: Sql, orderId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`payment:${orderId}`}, 0))`;
}

type PaymentRow = Omit<Payment, 'amount'> & { amount: string };
const toPayment = (row: PaymentRow): Payment => ({ ...row, amount: new Decimal(row.amount) });

/** An order's charge, read in plain SQL: the saga's charge step runs on every order. */
async function findCharge(db: Db | Sql, orderId: string): Promise<Payment | null> {
  const [row] = await sqlOf(db).$queryRaw<PaymentRow[]>`
    SELECT id::text AS id, order_id::text AS "orderId", idempotency_key AS "idempotencyKey", transaction_id AS "transactionId",
           provider, provider_payment_id AS "providerPaymentId", provider_refund_id AS "providerRefundId", status::text AS status,
           amount::text AS amount, currency, payment_method AS "paymentMethod", decline_code AS "declineCode",
           failure_message AS "failureMessage", created_at AS "createdAt", updated_at AS "updatedAt"
    FROM payments WHERE idempotency_key = ${keys.charge(orderId)}`;
  return row ? toPayment(row) : null;
}

/**
 * Stores the provider's answer to an order's charge (once: a repeat finds the row) with its
 * transaction id and its event, in one transaction.
 */
async function recordCharge(deps: PaymentDeps, orderId: string, charge: ProviderCharge, context?: EventContext): Promise<Payment> {
  return inSqlTransaction(deps.db, async (tx) => {
    await lockPayments(tx, orderId);
    const existing = await findCharge(tx, orderId);
    if (existing) return existing;
    const now = deps.clock();
    const [{ next }] = await tx.$queryRaw<[{ next: bigint }]>`SELECT nextval('transaction_id_seq') AS next`;
    const payment: Payment = {
      id: randomUUID(),
      orderId,
      idempotencyKey: keys.charge(orderId),
      transactionId: formatTransactionId(now.getUTCFullYear(), next),
      provider: deps.provider.name,
      providerPaymentId: charge.id,
      providerRefundId: null,
      status: statusOf[charge.status],
      amount: new Decimal(charge.amount).div(100),
      currency: charge.currency,
      paymentMethod: charge.paymentMethod,
      declineCode: charge.declineCode ?? null,
      failureMessage: charge.failureMessage ?? null,
      createdAt: now,
      updatedAt: now,
    };
    await tx.$executeRaw`
      INSERT INTO payments (id, order_id, idempotency_key, transaction_id, provider, provider_payment_id, status, amount, currency,
                            payment_method, decline_code, failure_message, created_at, updated_at)
      VALUES (${payment.id}::uuid, ${orderId}::uuid, ${payment.idempotencyKey}, ${payment.transactionId}, ${payment.provider},
              ${payment.providerPaymentId}, ${payment.status}::payment_status, ${payment.amount.toFixed(2)}::numeric, ${payment.currency},
              ${payment.paymentMethod}, ${payment.declineCode}, ${payment.failureMessage}, ${now}, ${now})`;
    await announceOutcome(tx, payment, now, context);
    return payment;
  });
}

/**
 * Charges an order's total once, whatever the retries: the idempotency key is the order id, both
 * at the provider and in the payments table. Records the payment with `payment.success`, or with
 * `payment.failed` and then throws PaymentDeclinedError; a 3-D Secure charge is recorded as
 * `requires_action` and completes through confirmPayment. Transient provider failures are thrown
 * as retryable errors and record nothing. The order is the caller's: this reads no order row.
 */
export async function chargePayment(
  deps: PaymentDeps,
  input: ChargePaymentInput,
  options: CallOptions = {},
): Promise<PaymentSummary> {
  const { order, token } = input;
  if (!token) throw new ValidationError('a payment token is required');
  const existing = await findCharge(deps.db, order.id);
  if (existing) {
    if (existing.status === 'failed') throw declined(existing);
    // A repeat: the 3-D Secure link is the provider's to tell again.
    const action = existing.status === 'requires_action' ? await deps.provider.retrieve(existing.providerPaymentId, options) : undefined;
    return summarize(existing, action?.nextAction?.url ?? null);
  }
  const charge = await deps.provider.charge(
    { idempotencyKey: keys.charge(order.id), amount: toMinorUnits(order.total), currency: order.currency, token, reference: order.id },
    options,
  );
  const context = { correlationId: order.correlationId, userId: order.userId, traceId: order.traceId };
  const payment = await recordCharge(deps, order.id, charge, context);
  if (payment.status === 'failed') throw declined(payment);
  // The provider's answer to this charge carries the 3-D Secure link; a payment recorded by a racing
  // attempt has the same charge (one idempotency key), so its link too.
  return summarize(payment, payment.status === 'requires_action' ? (charge.nextAction?.url ?? null) : null);
}

/** The order's payment; when none was recorded but the provider charged (the answer was lost), that charge recorded now. */
async function findPayment(deps: PaymentDeps, orderId: string, options: CallOptions): Promise<Payment | null> {
  const payment = await deps.db.payment.findUnique({ where: { idempotencyKey: keys.charge(orderId) } });
  if (payment) return payment;
  const charge = await deps.provider.findByReference(orderId, options);
  return charge ? recordCharge(deps, orderId, charge) : null;
}

/** Moves a payment from one status to another if it is still in the first, with its event. */
async function settle(
  deps: PaymentDeps,
  payment: Payment,
  from: PaymentStatus,
  change: Prisma.PaymentUpdateInput & { status: PaymentStatus },
  announce?: (tx: Prisma.TransactionClient, updated: Payment, now: Date) => Promise<void>,
): Promise<Payment> {
  return inTransaction(deps.db, async (tx) => {
    await lockPayments(tx, payment.orderId);
    const current = await tx.payment.findUniqueOrThrow({ where: { id: payment.id } });
    if (current.status !== from) return current;
    const now = deps.clock();
    const updated = await tx.payment.update({ where: { id: payment.id }, data: { ...change, updatedAt: now } });
    await announce?.(tx, updated, now);
    return updated;
  });
}

/**
 * Completes a 3-D Secure payment after the provider's webhook: asks the provider for the charge's
 * state (a webhook body alone is never trusted) and records success or failure with its event.
 * Idempotent. Throws PaymentDeclinedError when authentication failed, PaymentPendingError when the
 * provider still waits for the customer.
 */
export async function confirmPayment(
  deps: PaymentDeps,
  input: { orderId: string },
  options: CallOptions = {},
): Promise<PaymentSummary> {
  let payment = await deps.db.payment.findUnique({ where: { idempotencyKey: keys.charge(input.orderId) } });
  if (!payment) throw new NotFoundError('payment of order', input.orderId);
  if (payment.status === 'requires_action') {
    const charge = await deps.provider.retrieve(payment.providerPaymentId, options);
    if (charge.status === 'requires_action') {
      throw new PaymentPendingError(`payment ${payment.id} still waits for the customer's authentication`, {
        orderId: input.orderId,
      });
    }
    payment = await recordProviderCharge(deps, payment, charge);
  }
  if (payment.status === 'failed') throw declined(payment);
  return summarize(payment);
}

/**
 * Records what the provider says of a charge we hold as waiting for 3-D Secure (paid, declined or
 * voided since), with its event. Our row can lag behind the provider: the customer authenticates
 * with the provider, and the webhook that tells us may come late or not at all.
 */
function recordProviderCharge(deps: PaymentDeps, payment: Payment, charge: ProviderCharge): Promise<Payment> {
  if (charge.status === 'requires_action') return Promise.resolve(payment);
  return settle(
    deps,
    payment,
    'requires_action',
    { status: statusOf[charge.status], declineCode: charge.declineCode, failureMessage: charge.failureMessage },
    announceOutcome,
  );
}

/** Refunds a succeeded payment in full, once (`payment.refunded`); the refund's idempotency key makes a repeat harmless. */
async function refund(deps: PaymentDeps, payment: Payment, options: CallOptions): Promise<Payment> {
  const charge = await deps.provider.refund({ chargeId: payment.providerPaymentId, idempotencyKey: keys.refund(payment.orderId) }, options);
  return settle(deps, payment, 'succeeded', { status: 'refunded', providerRefundId: charge.refundId }, async (tx, updated, now) => {
    await recordEvent(tx, {
      eventType: 'payment.refunded',
      aggregate: { type: 'order', id: updated.orderId },
      context: await orderEventContext(tx, updated.orderId),
      occurredAt: now,
      data: { ...paymentRef(updated), provider_refund_id: updated.providerRefundId!, refunded_at: now.toISOString() },
    });
  });
}

/**
 * Refunds an order's succeeded payment in full, once (`payment.refunded`). Idempotent: no payment,
 * a failed, voided or already refunded one is returned as it is (null when there is none). A
 * payment still waiting for 3-D Secure cannot be refunded.
 */
export async function refundPayment(
  deps: PaymentDeps,
  input: { orderId: string },
  options: CallOptions = {},
): Promise<PaymentSummary | null> {
  const payment = await findPayment(deps, input.orderId, options);
  if (!payment) return null;
  if (payment.status === 'requires_action') {
    throw new IllegalTransitionError('payment', payment.id, payment.status, 'refunded');
  }
  return summarize(payment.status === 'succeeded' ? await refund(deps, payment, options) : payment);
}

/**
 * Ends a charge that waits for 3-D Secure, going by the provider's charge, not our row: voids it
 * while the customer has not authenticated; a void the provider refuses because the customer
 * authenticated first is followed by a fresh look. Records how the charge ended.
 */
async function endPendingCharge(deps: PaymentDeps, payment: Payment, options: CallOptions): Promise<Payment> {
  let charge = await deps.provider.retrieve(payment.providerPaymentId, options);
  if (charge.status === 'requires_action') {
    try {
      charge = await deps.provider.cancel({ chargeId: payment.providerPaymentId, idempotencyKey: keys.void(payment.orderId) }, options);
    } catch (error) {
      if (!(error instanceof IllegalTransitionError)) throw error;
      charge = await deps.provider.retrieve(payment.providerPaymentId, options);
    }
  }
  return recordProviderCharge(deps, payment, charge);
}

/**
 * Undoes whatever an order's charge did, as the provider has it (the saga's compensation for
 * chargePayment): a charge still waiting for 3-D Secure is voided; a paid one, including one the
 * customer completed after we last heard of it, is refunded (`payment.refunded`); a declined,
 * voided or refunded one is left as it is. Idempotent; null when the order was never charged.
 */
export async function reversePayment(
  deps: PaymentDeps,
  input: { orderId: string },
  options: CallOptions = {},
): Promise<PaymentSummary | null> {
  let payment = await findPayment(deps, input.orderId, options);
  if (!payment) return null;
  if (payment.status === 'requires_action') payment = await endPendingCharge(deps, payment, options);
  if (payment.status === 'succeeded') payment = await refund(deps, payment, options);
  return summarize(payment);
}

/** An order's payment, or null when it has none. */
export async function getPayment(db: Db, orderId: string): Promise<PaymentSummary | null> {
  const payment = await db.payment.findUnique({ where: { idempotencyKey: keys.charge(orderId) } });
  return payment ? summarize(payment) : null;
}
