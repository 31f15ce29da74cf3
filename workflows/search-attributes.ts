import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The attributes every OrderSaga carries, so the Web UI and `temporal workflow list -q` can find any order. */
export const OrderId = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const CustomerId = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const OrderStatus = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const OrderTotal = defineSearchAttributeKey('OrderTotal', SearchAttributeType.DOUBLE);

export const orderSearchAttributes = [OrderId, CustomerId, OrderStatus, OrderTotal];
