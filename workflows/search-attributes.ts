import type { SearchAttributePair } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes.js';
import type { OrderSagaInput, OrderStatus as Status } from './definitions.js';

/** The attributes every OrderSaga carries, so the Web UI and `temporal workflow list -q` can find any order. */
export const OrderId: SearchAttributeKey<'KEYWORD'> = { name: 'OrderId', type: 'KEYWORD' };
export const CustomerId: SearchAttributeKey<'KEYWORD'> = { name: 'CustomerId', type: 'KEYWORD' };
export const OrderStatus: SearchAttributeKey<'KEYWORD'> = { name: 'OrderStatus', type: 'KEYWORD' };
export const OrderTotal: SearchAttributeKey<'DOUBLE'> = { name: 'OrderTotal', type: 'DOUBLE' };

export const orderSearchAttributes = [OrderId, CustomerId, OrderStatus, OrderTotal];

/** The attributes of an order's saga: set by the API when it starts the saga, and by the saga itself. */
export function orderSearchAttributePairs(input: OrderSagaInput, status: Status = 'pending'): SearchAttributePair[] {
  return [
    { key: OrderId, value: input.orderId },
    { key: CustomerId, value: input.userId },
    { key: OrderTotal, value: input.orderTotal },
    { key: OrderStatus, value: status },
  ];
}
