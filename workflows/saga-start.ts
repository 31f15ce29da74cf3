import { orderWorkflowId, type OrderSagaInput } from './definitions.js';
import { orderSearchAttributePairs } from './search-attributes.js';

/** The order a saga is started for, as written (the fields of its `orders` row that the saga needs). */
export interface SagaOrder {
  id: string;
  userId: string;
  correlationId: string;
  traceId: string;
  /** The order's total (a decimal). */
  total: { toFixed(decimalPlaces: number): string };
  paymentMethod: string | null;
  paymentToken: string | null;
}

/** The one place the saga's input is built: from the order as written, so that any process can start it. */
export function orderSagaInput(order: SagaOrder): OrderSagaInput {
  if (order.paymentMethod !== 'card' || !order.paymentToken) {
    throw new Error(`order ${order.id} has no stored card payment to start its saga with`);
  }
  return {
    orderId: order.id,
    userId: order.userId,
    correlationId: order.correlationId,
    traceId: order.traceId,
    orderTotal: Number(order.total.toFixed(2)),
    payment: { method: order.paymentMethod, token: order.paymentToken },
  };
}

/**
 * How an order's saga is started, by the API and by the housekeeping schedule alike: one workflow
 * per order, its id the order's; starting one that runs is a no-op (USE_EXISTING) and a finished
 * one is never run again (REJECT_DUPLICATE); with the search attributes the Web UI finds it by.
 */
export function orderSagaStartOptions(order: SagaOrder, taskQueue: string) {
  const input = orderSagaInput(order);
  return {
    workflowId: orderWorkflowId(input.orderId),
    taskQueue,
    args: [input] as [OrderSagaInput],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: orderSearchAttributePairs(input),
  } as const;
}
