import { type Client, Connection, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, NamespaceNotFoundError, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  cancelUpdate,
  orderSagaType,
  orderWorkflowId,
  paymentConfirmedSignal,
  type CancelRefusal,
  type OrderStatus,
} from '../workflows/definitions.js';
import { orderSagaStartOptions, type SagaOrder } from '../workflows/saga-start.js';
import { type CircuitBreaker, DependencyUnavailableError } from './circuit-breaker.js';

/**
 * The saga's answer to a cancel: accepted (it will end the order cancelled) in the status it was
 * in, or refused with what the order is past (unknown when the saga has already finished).
 */
export type CancelAnswer = { accepted: true; status: OrderStatus } | { accepted: false; refusal?: CancelRefusal };

/** gRPC's connectivity state READY (the same number in every gRPC implementation): the channel holds a live connection. */
const CHANNEL_READY = 2;

/** A Temporal connection that can tell, without a call, whether its channel is connected to the server. */
export class TemporalConnection extends Connection {
  get connected(): boolean {
    return this.client.getChannel().getConnectivityState(false) === CHANNEL_READY;
  }
}

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

  /**
   * Fails fast (DependencyUnavailableError) unless Temporal is there: checked before any write. A
   * closed circuit over a live connection needs no call: a server that went away has dropped the
   * connection, and a start sent to one that hangs is settled by settleFailedStart (and its
   * failures open the circuit). Otherwise Temporal is asked.
   */
  async ensureAvailable(): Promise<void> {
    const { connection } = this.client;
    if (this.breaker.currentState === 'closed' && connection instanceof TemporalConnection && connection.connected) return;
    await this.call(() => this.client.workflowService.getSystemInfo({}));
  }

  /** Starts the saga of an order; starting one that already runs is a no-op, and a finished one is never run again. */
  async start(order: SagaOrder): Promise<string> {
    const options = orderSagaStartOptions(order, this.taskQueue);
    try {
      await this.call(() => this.client.workflow.start(orderSagaType, options));
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    return options.workflowId;
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

/**
 * gRPC status codes with which Temporal refuses a request without acting on it: INVALID_ARGUMENT,
 * NOT_FOUND (namespace), PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNIMPLEMENTED,
 * UNAUTHENTICATED.
 */
const REFUSED_WITHOUT_ACTING = new Set([3, 5, 7, 8, 9, 12, 16]);

/**
 * True only when a failed `start` surely started nothing: the circuit was open (nothing was sent),
 * the client refused the options before sending (TypeError), or the server refused the request
 * (an unknown namespace, or one of the codes above). A timeout, an unavailable server or a lost
 * reply leave it open whether the saga runs.
 */
export function sagaSurelyNotStarted(error: unknown): boolean {
  if (!(error instanceof DependencyUnavailableError)) return false;
  const cause = error.cause;
  if (cause === undefined || cause instanceof TypeError || cause instanceof NamespaceNotFoundError) return true;
  const code = (cause as { cause?: { code?: unknown } }).cause?.code;
  return cause instanceof ServiceError && typeof code === 'number' && REFUSED_WITHOUT_ACTING.has(code);
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
