import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** The workflow type; also the name the Web UI shows. */
export const orderSagaType = 'OrderSaga';

/** One workflow per order, found by the order's id. */
export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

export type OrderStatus = 'pending' | 'inventory_reserved' | 'awaiting_payment' | 'confirmed' | 'failed' | 'cancelled';

/** `processing_error`: a step failed for a reason other than a business refusal, after all its retries. */
export type FailureReason = 'out_of_stock' | 'payment_declined' | 'payment_timeout' | 'processing_error';

/** What the API hands the saga once the order row (status `pending`) and `order.created` are written. */
export interface OrderSagaInput {
  orderId: string;
  userId: string;
  /** The request's correlation id, carried into every activity and event. */
  correlationId: string;
  traceId?: string;
  /** For the `OrderTotal` search attribute only; the order row holds the amount of record. */
  orderTotal: number;
  payment: { method: 'card'; token: string };
}

export interface OrderSagaState {
  orderId: string;
  status: OrderStatus;
  failureReason?: FailureReason;
  reservationId?: string;
  reservationExpiresAt?: string;
  paymentId?: string;
  /** Compensations that ran, in the order they ran. */
  compensated: string[];
  /** Compensations that kept failing: what was left undone. */
  uncompensated: string[];
}

export interface OrderSagaResult {
  orderId: string;
  status: Extract<OrderStatus, 'confirmed' | 'failed' | 'cancelled'>;
  failureReason?: FailureReason;
}

/** The backstop the housekeeping schedule runs (workflows/housekeeping.ts). */
export const housekeepingType = 'OrderHousekeeping';

/** What one housekeeping run did, by order id. */
export interface HousekeepingReport {
  /** Pending orders whose saga it started. */
  sagasStarted: string[];
  /** Pending orders whose saga had ended without deciding them: failed, their stock released. */
  ordersFailed: string[];
  /** Orders whose expired reservation no running saga would release: back to stock. */
  reservationsExpired: string[];
}

/**
 * Asks the saga to cancel the order. The validator refuses it once the saga is confirming (the
 * point of no return), has ended, or is failing the order for another reason; an accepted cancel
 * always ends the order `cancelled`, with everything undone. Answers the status it was accepted in.
 */
export const cancelUpdate = defineUpdate<{ status: OrderStatus }, [{ reason?: string }]>('cancel');
/** Why a cancel was refused: what the order is past. The refusal's type is `NotCancellable`. */
export type CancelRefusal = 'confirming' | 'confirmed' | 'failing' | 'failed' | 'cancelled';
/** The cancel of sagas begun before the `cancel` Update (release 63a8a76 and earlier); nothing sends it now. */
export const cancelSignal = defineSignal<[{ reason?: string }]>('cancel');
/** Sent by the payment webhook when a payment that required action (3-D Secure) has completed. */
export const paymentConfirmedSignal = defineSignal<[{ providerPaymentId: string; succeeded: boolean }]>('paymentConfirmed');
export const statusQuery = defineQuery<OrderSagaState>('status');
