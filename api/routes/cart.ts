import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { addCartItem, getCart, removeCartItem, type CartView } from '../../domain/cart.js';
import { toApiAmount } from '../../domain/money.js';
import { callerOf } from '../plugins/auth.js';
import { addCartItemSchema, cartSchema, problems, productIdParamsSchema } from '../schemas.js';

function toCart(cart: CartView) {
  return {
    cart_id: cart.cartId,
    items: cart.items.map((i) => ({
      product_id: i.productId,
      variant_id: i.variantId,
      name: i.name,
      quantity: i.quantity,
      unit_price: toApiAmount(i.unitPrice),
      line_total: toApiAmount(i.lineTotal),
    })),
    total: toApiAmount(cart.total),
    currency: cart.currency,
  };
}

const security = [{ bearerAuth: [] }];

/** The caller's cart (seed §1 Example 2). */
const cartRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.services;

  app.get(
    '/cart',
    {
      schema: { tags: ['cart'], summary: "The caller's cart", security, response: { 200: cartSchema, ...problems(401, 429, 503) } },
    },
    async (request) => toCart(await db.run((prisma) => getCart(prisma, callerOf(request).userId))),
  );

  app.post(
    '/cart/items',
    {
      schema: {
        tags: ['cart'],
        summary: 'Add units of a product to the cart',
        security,
        body: addCartItemSchema,
        response: { 201: cartSchema, ...problems(400, 401, 404, 409, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { product_id, variant_id, quantity } = request.body;
      const cart = await db.run((prisma) =>
        addCartItem(prisma, { userId: callerOf(request).userId, productId: product_id, variantId: variant_id, quantity }),
      );
      return reply.code(201).send(toCart(cart));
    },
  );

  app.delete(
    '/cart/items/:product_id',
    {
      schema: {
        tags: ['cart'],
        summary: 'Remove a product from the cart',
        security,
        params: productIdParamsSchema,
        response: { 200: cartSchema, ...problems(400, 401, 404, 429, 503) },
      },
    },
    async (request) =>
      toCart(await db.run((prisma) => removeCartItem(prisma, { userId: callerOf(request).userId, productId: request.params.product_id }))),
  );
};

export default cartRoutes;
