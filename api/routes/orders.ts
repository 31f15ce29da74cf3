import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { toApiAmount } from '../../domain/money.js';
import { type ShippingAddress } from '../../domain/orders.js';
import { orderWorkflowId } from '../../workflows/definitions.js';
import { getOrderOfUser, listOrdersOfUser, requestCancellation, submitOrder, type OrderDetails } from '../order-service.js';
import { callerOf } from '../plugins/auth.js';
import { traceIdOf } from '../plugins/correlation.js';
import {
  cancelAcceptedSchema,
  idempotencyHeadersSchema,
  idParamsSchema,
  orderAcceptedSchema,
  orderPageSchema,
  orderSchema,
  pageQuerySchema,
  problems,
  submitOrderSchema,
} from '../schemas.js';

function toOrder(order: OrderDetails) {
  const payment = order.payments[0];
  return {
    order_id: order.id,
    order_number: order.orderNumber,
    status: order.status,
    items: order.items.map((i) => ({
      product_id: i.productId,
      variant_id: i.variantId,
      sku: i.sku,
      name: i.name,
      quantity: i.quantity,
      unit_price: toApiAmount(i.unitPrice),
      line_total: toApiAmount(i.lineTotal),
    })),
    total: toApiAmount(order.total),
    currency: order.currency,
    shipping_address: order.shippingAddress as ShippingAddress,
    failure_reason: order.failureReason,
    payment: payment
      ? {
          status: payment.status,
          method: payment.paymentMethod,
          amount: toApiAmount(payment.amount),
          currency: payment.currency,
          transaction_id: payment.transactionId,
          decline_code: payment.declineCode,
        }
      : null,
    timeline: order.timeline.map((t) => ({ status: t.status, from_status: t.fromStatus, reason: t.reason, at: t.createdAt.toISOString() })),
    workflow_id: orderWorkflowId(order.id),
    created_at: order.createdAt.toISOString(),
    updated_at: order.updatedAt.toISOString(),
  };
}

const security = [{ bearerAuth: [] }];

/** The caller's orders: placing one starts its OrderSaga; reading one shows how far the saga got. */
const orderRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, saga, clock, config } = app.services;

  app.post(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Place an order: 202 once its saga has started; poll the order for the outcome',
        security,
        headers: idempotencyHeadersSchema,
        body: submitOrderSchema,
        response: { 202: orderAcceptedSchema, ...problems(400, 401, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const result = await submitOrder(
        { db, saga, clock, idempotencyWaitMs: config.api.idempotencyWaitMs, idempotencyAbandonedAfterMs: config.api.idempotencyAbandonedAfterMs },
        {
          userId: callerOf(request).userId,
          correlationId: request.id,
          traceId: traceIdOf(request),
          idempotencyKey: request.headers['idempotency-key'],
          body: request.body,
        },
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', `/api/v1/orders/${result.body.order_id}`).send(result.body);
    },
  );

  app.get(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: "The caller's orders, newest first",
        security,
        querystring: pageQuerySchema,
        response: { 200: orderPageSchema, ...problems(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const page = await listOrdersOfUser(db, callerOf(request).userId, request.query);
      return {
        data: page.orders.map((o) => ({
          order_id: o.id,
          order_number: o.orderNumber,
          status: o.status,
          total: toApiAmount(o.total),
          currency: o.currency,
          created_at: o.createdAt.toISOString(),
        })),
        next_cursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/orders/:id',
    {
      schema: {
        tags: ['orders'],
        summary: 'One order: status, items, payment, and the timeline of its statuses',
        security,
        params: idParamsSchema,
        response: { 200: orderSchema, ...problems(400, 401, 404, 429, 503) },
      },
    },
    async (request) => toOrder(await getOrderOfUser(db, callerOf(request).userId, request.params.id)),
  );

  app.post(
    '/orders/:id/cancel',
    {
      schema: {
        tags: ['orders'],
        summary: 'Cancel an order: 202 once its saga accepted (it undoes what was done), 409 once it is confirming or has ended',
        security,
        params: idParamsSchema,
        response: { 202: cancelAcceptedSchema, ...problems(400, 401, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { orderId, status } = await requestCancellation({ db, saga }, callerOf(request).userId, request.params.id);
      return reply.code(202).send({ order_id: orderId, status, cancellation: 'requested' as const });
    },
  );
};

export default orderRoutes;
