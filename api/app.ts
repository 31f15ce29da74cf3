import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type Client } from '@temporalio/client';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { type Admin } from 'kafkajs';
import { type Logger as PinoLogger } from 'pino';
import { readFileSync } from 'node:fs';
import { type Config } from '../config/index.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { type PrismaClient } from '../generated/prisma/client.js';
import auth from './plugins/auth.js';
import correlation, { REQUEST_ID_HEADER, requestIdOf } from './plugins/correlation.js';
import httpMetrics from './plugins/http-metrics.js';
import problems, { answerClientError, replyWithProblem } from './plugins/problems.js';
import services from './plugins/services.js';
import text from './plugins/text.js';
import tracing from './plugins/tracing.js';
import { withLinks } from './openapi-links.js';
import adminRoutes from './routes/admin.js';
import cartRoutes from './routes/cart.js';
import healthRoutes from './routes/health.js';
import orderRoutes from './routes/orders.js';
import paymentRoutes from './routes/payments.js';
import productRoutes from './routes/products.js';
import searchRoutes from './routes/search.js';

export interface AppDeps {
  config: Config;
  prisma: PrismaClient;
  temporal: Client;
  kafkaAdmin: Admin;
  clock?: Clock;
  /** The process's logger (runtime/log.ts), for Fastify's own lines and `request.log`; none without it. */
  logger?: PinoLogger;
}

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const API_PREFIX = '/api/v1';

/**
 * The HTTP gateway (CONTRACT §2): the request's trace span, external plugins, then the app's own
 * (services, problems, correlation id, auth), then the routes. Every route's zod schemas validate
 * the request, type the handler and make the OpenAPI document at /openapi.json (browsable at /docs).
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: config.api.bodyLimitBytes,
    genReqId: requestIdOf,
    requestIdHeader: false,
    // Who the client is (request.ip, which rate limits count by): the socket's peer, or what trusted load balancers say.
    trustProxy: config.api.trustProxy,
    return503OnClosing: true,
    // A path the router cannot take (a malformed escape, an overlong parameter) answers as a problem too.
    frameworkErrors: (error, request, reply) => void replyWithProblem(error, request, reply),
    clientErrorHandler: answerClientError,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The API reads JSON only: any other body is 415, not a string that then fails validation.
  app.removeContentTypeParser('text/plain');

  // First, so that the request's span covers every other hook.
  await app.register(tracing);
  await app.register(httpMetrics);
  await app.register(helmet);
  await app.register(cors, {
    origin: config.api.corsOrigins.includes('*') ? '*' : config.api.corsOrigins,
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-None-Match', REQUEST_ID_HEADER, 'traceparent'],
    exposedHeaders: ['ETag', 'Location', 'Retry-After', 'X-Request-Id', 'Idempotent-Replayed', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Order saga API',
        version,
        description: 'Place orders and follow their saga. Errors are RFC 9457 problem details (application/problem+json).',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => withLinks(jsonSchemaTransformObject(input)),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  await app.register(services, { ...deps, clock: deps.clock ?? systemClock });
  await app.register(problems);
  await app.register(correlation);
  await app.register(auth);
  await app.register(text);

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.register(healthRoutes, { version });
  await app.register(productRoutes, { prefix: API_PREFIX });
  await app.register(searchRoutes, { prefix: API_PREFIX });
  await app.register(paymentRoutes, { prefix: API_PREFIX });
  await app.register(
    async (signedIn) => {
      // Seed §7: 100 requests a minute per user. A request refused for its credentials counts
      // against its client's address instead, so guessing tokens is limited as well.
      await signedIn.register(rateLimit, { global: false });
      const countRequest = signedIn.rateLimit({
        max: config.api.rateLimit.userPerMinute,
        timeWindow: '1 minute',
        keyGenerator: (request) => (request.caller ? `user:${request.caller.userId}` : `client:${normalizeIP(request.ip)}`),
      });
      signedIn.addHook('onRequest', async function (request, reply) {
        let refused: unknown;
        try {
          await this.authenticate(request);
        } catch (error) {
          refused = error;
        }
        await countRequest.call(this, request, reply);
        if (refused) throw refused;
      });
      await signedIn.register(cartRoutes);
      await signedIn.register(orderRoutes);
      await signedIn.register(adminRoutes);
    },
    { prefix: API_PREFIX },
  );
  return app;
}
