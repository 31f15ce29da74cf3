import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  cancelUpdate,
  orderSagaType,
  orderWorkflowId,
  paymentConfirmedSignal,
  type CancelRefusal,
  type OrderSagaInput,
  type OrderStatus,
} from '../workflows/definitions.js';
import { orderSearchAttributePairs } from '../workflows/search-attributes.js';
import { toApiAmount } from '../domain/money.js';
import { type Order } from '../generated/prisma/client.js';
import { type CircuitBreaker } from './circuit-breaker.js';

/** The order a saga is started for, as the API has it. */
export type SagaOrder = Pick<Order, 'id' | 'userId' | 'correlationId' | 'traceId' | 'total'>;

/** The one place the saga's input is built: from the order as written, and the client's payment. */
export function orderSagaInput(order: SagaOrder, payment: OrderSagaInput['payment']): OrderSagaInput {
  return {
    orderId: order.id,
    userId: order.userId,
    correlationId: order.correlationId,
    traceId: order.traceId,
    orderTotal: toApiAmount(order.total),
    payment,
  };
}

/**
 * The saga's answer to a cancel: accepted (it will end the order cancelled) in the status it was
 * in, or refused with what the order is past (unknown when the saga has already finished).
 */
export type CancelAnswer = { accepted: true; status: OrderStatus } | { accepted: false; refusal?: CancelRefusal };

/**
 * The API's side of the saga: starts, updates and signals `OrderSaga` by type name and id (it never loads
 * workflow code), every call through Temporal's circuit breaker.
 */
export class OrderSagaGateway {
  constructor(
    private readonly client: Client,
    private readonly breaker: CircuitBreaker,
    private readonly taskQueue: string,
  ) {}

  /** Fails fast (DependencyUnavailableError) unless Temporal answers now: checked before any write. */
  async ensureAvailable(): Promise<void> {
    await this.call(() => this.client.workflowService.getSystemInfo({}));
  }

  /** Starts the saga of an order; starting one that already runs is a no-op, and a finished one is never run again. */
  async start(order: SagaOrder, payment: OrderSagaInput['payment']): Promise<string> {
    const input = orderSagaInput(order, payment);
    const workflowId = orderWorkflowId(input.orderId);
    const options = {
      workflowId,
      taskQueue: this.taskQueue,
      args: [input] as [OrderSagaInput],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: new TypedSearchAttributes(orderSearchAttributePairs(input)),
    } as const;
    try {
      await this.call(() => this.client.workflow.start(orderSagaType, options));
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    return workflowId;
  }

  /** Asks the saga to cancel (the `cancel` Update) and returns once it accepted or refused. */
  async cancel(orderId: string, reason: string): Promise<CancelAnswer> {
    const handle = this.client.workflow.getHandle(orderWorkflowId(orderId));
    try {
      const { status } = await this.call(() => handle.executeUpdate(cancelUpdate, { args: [{ reason }] }));
      return { accepted: true, status };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { accepted: false };
      const refusal = error instanceof WorkflowUpdateFailedError ? cancelRefusalOf(error) : undefined;
      if (refusal) return { accepted: false, refusal };
      throw error;
    }
  }

  /** Tells an order's saga that its payment completed (or failed) after the customer's action; false when it has finished. */
  async confirmPayment(orderId: string, confirmation: { providerPaymentId: string; succeeded: boolean }): Promise<boolean> {
    return this.signalIfRunning(orderId, (handle) => handle.signal(paymentConfirmedSignal, confirmation));
  }

  private async signalIfRunning(
    orderId: string,
    send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>,
  ): Promise<boolean> {
    try {
      await this.call(() => send(this.client.workflow.getHandle(orderWorkflowId(orderId))));
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  private call<T>(work: () => Promise<T>): Promise<T> {
    return this.breaker.run((signal) => this.client.connection.withAbortSignal(signal, work));
  }
}

/** What the saga's cancel validator refused the cancel for (an ApplicationFailure of type NotCancellable). */
function cancelRefusalOf(error: WorkflowUpdateFailedError): CancelRefusal | undefined {
  const { cause } = error;
  return cause instanceof ApplicationFailure && cause.type === 'NotCancellable' ? (cause.details?.[0] as CancelRefusal) : undefined;
}

/** Errors that are answers from a healthy Temporal, not signs that it is down. */
export function isTemporalAnswer(error: unknown): boolean {
  return (
    error instanceof WorkflowNotFoundError ||
    error instanceof WorkflowExecutionAlreadyStartedError ||
    error instanceof WorkflowUpdateFailedError
  );
}
