import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  cancelSignal,
  orderSagaType,
  orderWorkflowId,
  paymentConfirmedSignal,
  type OrderSagaInput,
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
 * The API's side of the saga: starts and signals `OrderSaga` by type name and id (it never loads
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

  /** Asks the saga to cancel; false when it has already finished. */
  async cancel(orderId: string, reason: string): Promise<boolean> {
    return this.signalIfRunning(orderId, (handle) => handle.signal(cancelSignal, { reason }));
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

/** Errors that are answers from a healthy Temporal, not signs that it is down. */
export function isTemporalAnswer(error: unknown): boolean {
  return error instanceof WorkflowNotFoundError || error instanceof WorkflowExecutionAlreadyStartedError;
}
