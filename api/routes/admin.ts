import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toApiAmount } from '../../domain/money.js';
import { orderStats } from '../../read-models/analytics.js';
import { problems } from '../schemas.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** PostgreSQL's calendar has no year 0, and no order is older than the year 1: a range reaching further starts there. */
const YEAR_ONE = new Date('0001-01-01T00:00:00Z');
const notBeforeYearOne = (time: Date) => (time < YEAR_ONE ? YEAR_ONE : time);

// A range whose from is not before its to is empty, not an error: the document cannot say that one
// parameter must be below another, so the API takes any two times it allows.
const statsQuerySchema = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional().describe('Start of the range (inclusive); default: 24 hours before `to`'),
  to: z.iso.datetime({ offset: true }).optional().describe('End of the range (exclusive); default: now; at or before `from`, the range is empty'),
});

const statsEntry = {
  status: z.string().describe('pending (placed), confirmed, failed or cancelled'),
  currency: z.string().length(3).describe('ISO 4217; XXX for orders whose placing analytics did not see'),
  orders: z.number().int().describe('Orders that entered the status'),
  revenue: z.number().describe('The sum of their totals'),
};

const statsSchema = z
  .object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    hours: z.array(z.object({ hour: z.iso.datetime().describe('The hour (UTC) the orders entered the status'), ...statsEntry })),
    totals: z.array(z.object(statsEntry)),
  })
  .meta({ id: 'OrderStats' });

const security = [{ bearerAuth: [] }];

/** For the admin role: the analytics service's orders and revenue per status and hour. */
const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  app.addHook('onRequest', app.requireRole('admin'));

  app.get(
    '/admin/stats',
    {
      schema: {
        tags: ['admin'],
        summary: 'Orders and revenue per status and hour (admin role)',
        security,
        querystring: statsQuerySchema,
        response: { 200: statsSchema, ...problems(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const to = notBeforeYearOne(request.query.to ? new Date(request.query.to) : app.services.clock());
      const from = notBeforeYearOne(request.query.from ? new Date(request.query.from) : new Date(to.getTime() - DAY_MS));
      const stats = await app.services.db.run((db) => orderStats(db, { from, to }));
      const entry = (s: { status: string; currency: string; orders: number; revenue: Parameters<typeof toApiAmount>[0] }) => ({
        status: s.status,
        currency: s.currency,
        orders: s.orders,
        revenue: toApiAmount(s.revenue),
      });
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        hours: stats.hours.map((h) => ({ hour: h.hour.toISOString(), ...entry(h) })),
        totals: stats.totals.map(entry),
      };
    },
  );
};

export default adminRoutes;
