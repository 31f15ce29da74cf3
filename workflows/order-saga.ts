import {
  ActivityCancellationType,
  ApplicationFailure,
  CancelledFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrderActivities, SagaContext } from '../activities/index.js';
import {
  cancelSignal,
  cancelUpdate,
  paymentConfirmedSignal,
  statusQuery,
  type CancelRefusal,
  type FailureReason,
  type OrderSagaInput,
  type OrderSagaResult,
  type OrderSagaState,
  type OrderStatus,
} from './definitions.js';
import { compensationPolicy, localStepPolicy, paymentPolicy, stepPolicy } from './policies.js';
import { orderSearchAttributePairs, OrderStatus as OrderStatusAttribute } from './search-attributes.js';

/** The forward steps: database steps, and calls to the payment provider. */
interface ForwardSteps {
  steps: OrderActivities;
  /** The database steps as local activities (`local-database-steps`). */
  localSteps: OrderActivities;
  payments: OrderActivities;
}

function forwardSteps(cancellationType: ActivityCancellationType): ForwardSteps {
  return {
    steps: proxyActivities<OrderActivities>({ ...stepPolicy, cancellationType }),
    localSteps: proxyLocalActivities<OrderActivities>({ ...localStepPolicy, cancellationType }),
    payments: proxyActivities<OrderActivities>({ ...paymentPolicy, cancellationType }),
  };
}

// A saga cancelled through Temporal waits for the step in flight to end before it undoes it (the
// steps do not heartbeat, so nothing interrupts them): undoing a charge or a reservation that has
// not landed yet would leave it in place once it does.
const stepsFinishing = forwardSteps(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED);
const stepsCutShort = forwardSteps(ActivityCancellationType.TRY_CANCEL);
const compensations = proxyActivities<OrderActivities>(compensationPolicy);

/**
 * The changes made to the saga since release 63a8a76, each behind `patched()`: a saga that began
 * before a change replays as it ran, and takes the change from the next decision on
 * (README, "Changing the workflow").
 */
const changes = {
  /** A cancel accepted before confirming ends the order cancelled, even when a step fails after it. */
  acceptedCancelWins: 'accepted-cancel-wins',
  /** A cancellation through Temporal cancels the order: a step in flight is let finish, confirming is not cut short. Decided when the saga starts. */
  temporalCancelCancelsOrder: 'temporal-cancel-cancels-order',
  /** A webhook signal that comes while the provider answers "still pending" is acted on, not dropped. */
  paymentSignalsCounted: 'payment-signals-counted',
  /** At the 3-D Secure deadline the provider is asked once more before the payment times out. */
  timeoutAsksProvider: 'payment-timeout-asks-provider',
  /** Reserve and confirm run as local activities (policies.ts, localStepPolicy). Decided when the saga starts. */
  localDatabaseSteps: 'local-database-steps',
  /**
   * The release is registered before the first cancel check: a reserve that took effect on a worker
   * that died before its workflow task completed is undone when a cancel comes first after it.
   */
  releaseBeforeFirstCancelCheck: 'release-before-first-cancel-check',
} as const;

/** The cancel reason when the saga was cancelled through Temporal (Web UI, CLI), not by the customer. */
const CANCELLED_BY_OPERATOR = 'cancelled_by_operator';

/** A step's undo, told why the saga stopped: the failure reason, or `cancelled`. */
interface Compensation {
  name: string;
  run: (reason: string) => Promise<unknown>;
}

/** Why the saga stops short of confirmation; carried to the compensation and the final status. */
class SagaStop {
  constructor(
    readonly status: 'failed' | 'cancelled',
    readonly reason?: FailureReason,
  ) {}

  /** What the compensations and events give as the reason: the failure reason, or `cancelled`. */
  get undoReason(): string {
    return this.status === 'cancelled' ? 'cancelled' : (this.reason ?? 'processing_error');
  }
}

/** How far the saga is, for deciding whether a cancel may still be accepted. */
interface SagaProgress {
  state: OrderSagaState;
  /** Set just before confirmOrder: the point of no return. */
  confirming: boolean;
  /** Set when the saga stops short of confirmation. */
  stopping?: SagaStop;
}

/** What refuses a cancel now, or undefined when it can still be accepted (also while the saga is already cancelling). */
function cancelRefusal({ state, confirming, stopping }: SagaProgress): CancelRefusal | undefined {
  if (state.status === 'confirmed' || state.status === 'failed' || state.status === 'cancelled') return state.status;
  if (confirming) return 'confirming';
  if (stopping?.status === 'failed') return 'failing';
  return undefined;
}

/**
 * One order, from `pending` to `confirmed`, or to `failed` / `cancelled` with everything undone.
 *
 * Each compensation is registered before the step it undoes runs, so a step that took effect but
 * whose reply was lost is undone too (compensations are idempotent and no-ops when there is nothing
 * to undo). They run in reverse order, in a scope that cancellation cannot interrupt.
 */
export async function OrderSaga(input: OrderSagaInput): Promise<OrderSagaResult> {
  const context: SagaContext = {
    orderId: input.orderId,
    userId: input.userId,
    correlationId: input.correlationId,
    traceId: input.traceId,
  };
  const cancellationCancelsOrder = patched(changes.temporalCancelCancelsOrder);
  const forward = cancellationCancelsOrder ? stepsFinishing : stepsCutShort;
  const { payments } = forward;
  const steps = patched(changes.localDatabaseSteps) ? forward.localSteps : forward.steps;
  const state: OrderSagaState = { orderId: input.orderId, status: 'pending', compensated: [], uncompensated: [] };
  const progress: SagaProgress = { state, confirming: false };
  const undo: Compensation[] = [];
  const inbox: SagaInbox = { paymentSignals: { received: 0, handled: 0 } };
  const acceptCancel = (reason?: string) => {
    inbox.cancel ??= { reason: reason ?? 'cancelled_by_customer' };
  };

  setHandler(statusQuery, () => state);
  setHandler<{ status: OrderStatus }, [{ reason?: string }], typeof cancelUpdate>(
    cancelUpdate,
    ({ reason }) => {
      acceptCancel(reason);
      return { status: state.status };
    },
    {
      validator: () => {
        const refusal = cancelRefusal(progress);
        if (refusal) {
          throw ApplicationFailure.nonRetryable(`order ${input.orderId} is ${refusal}: it can no longer be cancelled`, 'NotCancellable', refusal);
        }
      },
    },
  );
  setHandler(cancelSignal, ({ reason }) => {
    if (!cancelRefusal(progress)) acceptCancel(reason);
  });
  setHandler(paymentConfirmedSignal, () => {
    inbox.paymentSignals.received += 1;
  });

  const setStatus = (status: OrderStatus, reason?: FailureReason) => {
    state.status = status;
    state.failureReason = reason;
    upsertSearchAttributes([{ key: OrderStatusAttribute, value: status }]);
  };
  upsertSearchAttributes(orderSearchAttributePairs(input));

  const cancelledThroughTemporal = () => cancellationCancelsOrder && CancellationScope.current().consideredCancelled;
  const stopIfCancelled = () => {
    if (inbox.cancel || cancelledThroughTemporal()) throw new SagaStop('cancelled');
  };

  try {
    const releaseReservation: Compensation = { name: 'releaseReservation', run: (reason) => compensations.releaseReservation({ ...context, reason }) };
    const releaseFirst = patched(changes.releaseBeforeFirstCancelCheck);
    if (releaseFirst) undo.push(releaseReservation);
    stopIfCancelled();
    if (!releaseFirst) undo.push(releaseReservation);
    const reservation = await steps.reserveInventory(context).catch(rethrowAs('OutOfStock', 'out_of_stock'));
    state.reservationId = reservation.reservationId;
    state.reservationExpiresAt = reservation.expiresAt;
    setStatus('inventory_reserved');

    stopIfCancelled();
    undo.push({ name: 'reversePayment', run: () => compensations.reversePayment(context) });
    const charge = await payments
      .chargePayment({ ...context, token: input.payment.token })
      .catch(rethrowAs('PaymentDeclined', 'payment_declined'));
    state.paymentId = charge.paymentId;

    if (charge.status === 'requires_action') {
      setStatus('awaiting_payment');
      // 3-D Secure: the customer has until the reservation expires.
      await awaitCustomerPayment(context, inbox, payments, Date.now() + reservation.expiresInMs);
    }

    stopIfCancelled();
    progress.confirming = true;
    await (cancellationCancelsOrder ? CancellationScope.nonCancellable(() => steps.confirmOrder(context)) : steps.confirmOrder(context));
    setStatus('confirmed');
    return { orderId: input.orderId, status: 'confirmed' };
  } catch (error) {
    const byOperator = cancelledThroughTemporal();
    if (!(error instanceof SagaStop) && !byOperator) log.error('saga step failed for a reason that is not a business refusal', { error });
    let stop = error instanceof SagaStop ? error : undefined;
    if (stop?.status !== 'cancelled' && (byOperator || (inbox.cancel && patched(changes.acceptedCancelWins)))) {
      stop = new SagaStop('cancelled');
    }
    const final = stop ?? new SagaStop('failed', 'processing_error');
    progress.stopping = final;
    await CancellationScope.nonCancellable(async () => {
      await compensate(undo, state, final.undoReason);
      await (final.status === 'cancelled'
        ? compensations.cancelOrder({ ...context, reason: inbox.cancel?.reason ?? (byOperator ? CANCELLED_BY_OPERATOR : 'cancelled') })
        : compensations.failOrder({ ...context, reason: final.undoReason }));
    });
    setStatus(final.status, final.reason);
    if (state.uncompensated.length) {
      throw ApplicationFailure.nonRetryable(
        `order ${input.orderId} ${final.status}, but compensations failed: ${state.uncompensated.join(', ')}`,
        'CompensationFailed',
        { orderId: input.orderId, uncompensated: state.uncompensated, compensated: state.compensated },
      );
    }
    if (!stop) throw error;
    // Cancelled through Temporal: the workflow ends cancelled too, as it was asked.
    if (byOperator) throw new CancelledFailure(`order ${input.orderId} cancelled through Temporal`);
    return { orderId: input.orderId, status: final.status, failureReason: final.reason };
  }
}

/** What the saga's handlers left for it: the accepted cancel, and the payment webhook's signals. */
interface SagaInbox {
  cancel?: { reason: string };
  /** paymentConfirmed signals received, and how many of them a question to the provider has answered. */
  paymentSignals: { received: number; handled: number };
}

/**
 * Waits for the customer to complete 3-D Secure: on each webhook signal, asks the provider (through
 * `completePayment`) whether the payment completed; a webhook the provider does not agree with yet
 * (ahead of the customer, or forged) is dropped and the wait goes on, while one that came during the
 * question is asked about again. At the deadline the provider is asked once more (the webhook may
 * be late or lost) before the payment times out. Stops the saga on a cancel or a decline.
 */
async function awaitCustomerPayment(context: SagaContext, inbox: SagaInbox, payments: OrderActivities, deadline: number): Promise<void> {
  const paymentCompleted = () => payments.completePayment(context).then(() => true, stillPending);
  const signals = inbox.paymentSignals;
  for (;;) {
    const answered = await condition(
      () => signals.received > signals.handled || inbox.cancel !== undefined,
      Math.max(deadline - Date.now(), 1),
    );
    if (inbox.cancel) throw new SagaStop('cancelled');
    if (!answered) {
      if (patched(changes.timeoutAsksProvider) && (await paymentCompleted())) return;
      throw new SagaStop('failed', 'payment_timeout');
    }
    signals.handled = signals.received;
    if (await paymentCompleted()) return;
    // Before the change, the signals that came while the provider was being asked were dropped too.
    if (!patched(changes.paymentSignalsCounted)) signals.handled = signals.received;
  }
}

/** Runs every registered compensation, newest first; one that keeps failing is recorded, and the rest still run. */
async function compensate(undo: Compensation[], state: OrderSagaState, reason: string): Promise<void> {
  for (const step of [...undo].reverse()) {
    try {
      await step.run(reason);
      state.compensated.push(step.name);
    } catch (error) {
      if (isCancellation(error)) throw error;
      log.error('compensation failed after all its attempts', { compensation: step.name, workflowId: workflowInfo().workflowId });
      state.uncompensated.push(step.name);
    }
  }
}

/** False when the provider still waits for the customer; a decline stops the saga; anything else is rethrown. */
function stillPending(error: unknown): false {
  if (failureType(error) === 'PaymentPending') return false;
  return rethrowAs('PaymentDeclined', 'payment_declined')(error);
}

/** The type of an activity's failure: its cause for an activity (ActivityFailure), itself for a local activity that failed for good. */
function failureType(error: unknown): string | undefined {
  if (error instanceof ApplicationFailure) return error.type ?? undefined;
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** Turns an activity's business refusal of the given type into a stop with its failure reason. */
function rethrowAs(type: string, reason: FailureReason) {
  return (error: unknown): never => {
    if (failureType(error) === type) throw new SagaStop('failed', reason);
    throw error;
  };
}
