import { z } from 'zod';
import { MAX_LINES_PER_ORDER, MAX_QUANTITY_PER_LINE, orderPaymentSchema, shippingAddressSchema } from '../domain/orders.js';
import { PROBLEM_CONTENT_TYPE, problemSchema, statusTitle } from './problem.js';

// The HTTP API's bodies, in snake_case as the seed's examples. The same schemas validate requests,
// type the handlers and make the OpenAPI document; request objects are strict, so a misspelt field
// is a 400 rather than silently ignored.

const money = z.number().describe('An amount in the currency, as a JSON number with two decimals');
const currency = z.string().length(3).describe('ISO 4217');
const quantity = z.number().int().min(1).max(MAX_QUANTITY_PER_LINE);

export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid().optional().describe('next_cursor of the previous page'),
});

export const idParamsSchema = z.strictObject({ id: z.uuid() });
export const productIdParamsSchema = z.strictObject({ product_id: z.uuid() });

export const productSchema = z
  .object({ id: z.uuid(), name: z.string(), price: money, currency, in_stock: z.boolean() })
  .meta({ id: 'Product' });

export const productDetailSchema = productSchema
  .extend({
    description: z.string(),
    variants: z.array(
      z.object({ id: z.uuid(), sku: z.string(), name: z.string(), price: money, currency, in_stock: z.boolean() }),
    ),
  })
  .meta({ id: 'ProductDetail' });

export const productPageSchema = z.object({ data: z.array(productSchema), next_cursor: z.uuid().nullable() });

export const addCartItemSchema = z
  .strictObject({ product_id: z.uuid(), variant_id: z.uuid().optional(), quantity })
  .meta({ id: 'AddCartItem' });

export const cartSchema = z
  .object({
    cart_id: z.uuid(),
    items: z.array(
      z.object({
        product_id: z.uuid(),
        variant_id: z.uuid(),
        name: z.string(),
        quantity: z.number().int(),
        unit_price: money,
        line_total: money,
      }),
    ),
    total: money,
    currency: currency.nullable().describe('null while the cart is empty'),
  })
  .meta({ id: 'Cart' });

export const orderStatusSchema = z.enum(['pending', 'inventory_reserved', 'awaiting_payment', 'confirmed', 'failed', 'cancelled']);

const orderTerms = {
  shipping_address: shippingAddressSchema,
  payment: orderPaymentSchema,
};

/** An order names its items, or takes what is in the cart: exactly one of the two shapes (oneOf). */
export const submitOrderSchema = z
  .xor(
    [
      z.strictObject({
        items: z
          .array(z.strictObject({ product_id: z.uuid(), variant_id: z.uuid().optional(), quantity }))
          .min(1)
          .max(MAX_LINES_PER_ORDER),
        ...orderTerms,
      }),
      z.strictObject({
        from_cart: z.literal(true).describe('order what is in the cart (and empty it) instead of `items`'),
        ...orderTerms,
      }),
    ],
    { error: 'send either items or from_cart: true, not both and not neither' },
  )
  .meta({ id: 'SubmitOrder' });
export type SubmitOrderBody = z.infer<typeof submitOrderSchema>;

export const idempotencyHeadersSchema = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe('Makes the request safe to retry: a repeat with the same key and body gets the first response'),
});

export const orderAcceptedSchema = z
  .object({ order_id: z.uuid(), order_number: z.string(), status: z.literal('pending'), workflow_id: z.string() })
  .meta({ id: 'OrderAccepted' });

export const orderSchema = z
  .object({
    order_id: z.uuid(),
    order_number: z.string(),
    status: orderStatusSchema,
    items: z.array(
      z.object({
        product_id: z.uuid(),
        variant_id: z.uuid(),
        sku: z.string(),
        name: z.string(),
        quantity: z.number().int(),
        unit_price: money,
        line_total: money,
      }),
    ),
    total: money,
    currency,
    shipping_address: shippingAddressSchema,
    failure_reason: z.string().nullable(),
    payment: z
      .object({
        status: z.enum(['requires_action', 'succeeded', 'failed', 'refunded', 'voided']),
        method: z.string(),
        amount: money,
        currency,
        transaction_id: z.string(),
        decline_code: z.string().nullable(),
      })
      .nullable()
      .describe('the latest payment attempt, once there is one'),
    timeline: z.array(
      z.object({ status: orderStatusSchema, from_status: orderStatusSchema.nullable(), reason: z.string().nullable(), at: z.iso.datetime() }),
    ),
    workflow_id: z.string(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Order' });

export const orderPageSchema = z.object({
  data: z.array(
    z.object({
      order_id: z.uuid(),
      order_number: z.string(),
      status: orderStatusSchema,
      total: money,
      currency,
      created_at: z.iso.datetime(),
    }),
  ),
  next_cursor: z.uuid().nullable(),
});

export const cancelAcceptedSchema = z
  .object({ order_id: z.uuid(), status: orderStatusSchema, cancellation: z.literal('requested') })
  .meta({ id: 'CancelAccepted' });

/** The provider's callback, Stripe-shaped; types other than the two below are acknowledged and ignored. */
export const paymentWebhookSchema = z
  .object({
    id: z.string().min(1),
    type: z.string().min(1).describe('charge.succeeded or charge.failed; other types are ignored'),
    data: z.object({ object: z.object({ id: z.string().min(1).describe('the provider payment id') }) }),
  })
  .meta({ id: 'PaymentWebhook' });

export const webhookReceivedSchema = z.object({ received: z.literal(true) });

export const healthSchema = z
  .object({
    status: z.enum(['healthy', 'unhealthy']),
    timestamp: z.iso.datetime(),
    service: z.string(),
    version: z.string(),
    checks: z.object({
      database: z.enum(['ok', 'error']),
      eventBus: z.enum(['ok', 'error']),
      temporal: z.enum(['ok', 'error']),
    }),
  })
  .meta({ id: 'Health' });

interface ProblemResponse {
  description: string;
  content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof problemSchema } };
}

/** The error answers a route may give, all problem details, documented as application/problem+json. */
export function problems<S extends number>(...statuses: S[]): Record<S, ProblemResponse> {
  const response = (status: number): ProblemResponse => ({
    description: statusTitle(status),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
  });
  return Object.fromEntries(statuses.map((status) => [status, response(status)])) as Record<S, ProblemResponse>;
}
