import rateLimit from '@fastify/rate-limit';
import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toApiAmount } from '../../domain/money.js';
import { searchProducts } from '../../read-models/search.js';
import { problems } from '../schemas.js';

/**
 * A character `trim()` keeps: not one of JavaScript's white space and line terminators. Spelled out,
 * not `\S`, as schemathesis reads the document's pattern with Python's `\S`, which differs on a few.
 */
const NOT_TRIMMED = /[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

const searchQuerySchema = z.strictObject({
  // Checked before the trim, so that the document's pattern and maxLength say what is refused.
  q: z
    .string()
    .regex(NOT_TRIMMED, 'Must hold a character other than a space')
    .max(200)
    .trim()
    .describe('Words to look for, at least one character other than a space; "quoted phrases" and -exclusions work as in a web search'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

const searchResultSchema = z
  .object({
    query: z.string(),
    data: z.array(
      z.object({
        id: z.uuid(),
        name: z.string(),
        description: z.string(),
        category: z.string(),
        brand: z.string(),
        price: z.number(),
        currency: z.string().length(3),
        in_stock: z.boolean(),
        available: z.number().int().describe('Units free to order over all warehouses, as the search service last heard'),
      }),
    ),
  })
  .meta({ id: 'SearchResult' });

/**
 * Product search over the search service's read model (PostgreSQL full-text search), fed by
 * product and inventory events. Public, 1000 requests a minute per client like the catalog.
 */
const searchRoutes: FastifyPluginAsyncZod = async (app) => {
  await app.register(rateLimit, {
    max: app.services.config.api.rateLimit.productsPerMinute,
    timeWindow: '1 minute',
  });

  app.get(
    '/search',
    {
      schema: {
        tags: ['catalog'],
        summary: 'Products matching words, best match first, with their stock',
        querystring: searchQuerySchema,
        response: { 200: searchResultSchema, ...problems(400, 429, 503) },
      },
    },
    async (request) => {
      const hits = await app.services.db.run((db) => searchProducts(db, request.query));
      return {
        query: request.query.q,
        data: hits.map((hit) => ({
          id: hit.id,
          name: hit.name,
          description: hit.description,
          category: hit.category,
          brand: hit.brand,
          price: toApiAmount(hit.price),
          currency: hit.currency,
          in_stock: hit.available > 0,
          available: hit.available,
        })),
      };
    },
  );
};

export default searchRoutes;
