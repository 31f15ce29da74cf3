import rateLimit from '@fastify/rate-limit';
import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getProduct, listProducts, type ProductView } from '../../domain/catalog.js';
import { toApiAmount } from '../../domain/money.js';
import { isNotModified } from '../http-cache.js';
import { idParamsSchema, pageQuerySchema, problems, productDetailSchema, productPageSchema } from '../schemas.js';

function toProduct(p: ProductView) {
  return { id: p.id, name: p.name, price: toApiAmount(p.price), currency: p.currency, in_stock: p.inStock };
}

const notModified = z.undefined().describe('Not modified: the copy named by If-None-Match is current');

/** The public catalog (seed §1 Example 1): no token, cacheable, 1000 requests a minute per client (seed §7). */
const productRoutes: FastifyPluginAsyncZod = async (app) => {
  await app.register(rateLimit, {
    max: app.services.config.api.rateLimit.productsPerMinute,
    timeWindow: '1 minute',
  });

  app.get(
    '/products',
    {
      schema: {
        tags: ['catalog'],
        summary: 'The catalog, by name, a page at a time',
        querystring: pageQuerySchema,
        response: { 200: productPageSchema, 304: notModified, ...problems(400, 429, 503) },
      },
    },
    async (request, reply) => {
      const page = await app.services.db.run((db) => listProducts(db, request.query));
      const body = { data: page.products.map(toProduct), next_cursor: page.nextCursor };
      if (isNotModified(request, reply, body)) return reply.code(304).send();
      return body;
    },
  );

  app.get(
    '/products/:id',
    {
      schema: {
        tags: ['catalog'],
        summary: 'One product, with its variants',
        params: idParamsSchema,
        response: { 200: productDetailSchema, 304: notModified, ...problems(400, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const product = await app.services.db.run((db) => getProduct(db, request.params.id));
      const body = {
        ...toProduct(product),
        description: product.description,
        variants: product.variants.map((v) => ({
          id: v.id,
          sku: v.sku,
          name: v.name,
          price: toApiAmount(v.price),
          currency: v.currency,
          in_stock: v.inStock,
        })),
      };
      if (isNotModified(request, reply, body)) return reply.code(304).send();
      return body;
    },
  );
};

export default productRoutes;
