import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  cancelSignal,
  orderSagaType,
  orderWorkflowId,
  paymentConfirmedSignal,
  type OrderSagaInput,
} from '../workflows/definitions.js';
import { CustomerId, OrderId, OrderStatus, OrderTotal } from '../workflows/search-attributes.js';
import { type CircuitBreaker } from './circuit-breaker.js';

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
  async start(input: OrderSagaInput): Promise<string> {
    const workflowId = orderWorkflowId(input.orderId);
    const options = {
      workflowId,
      taskQueue: this.taskQueue,
      args: [input] as [OrderSagaInput],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: new TypedSearchAttributes([
        { key: OrderId, value: input.orderId },
        { key: CustomerId, value: input.userId },
        { key: OrderStatus, value: 'pending' },
        { key: OrderTotal, value: input.orderTotal },
      ]),
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
