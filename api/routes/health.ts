import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { checkHealth } from '../health.js';
import { healthSchema } from '../schemas.js';

/** Seed §8: the service's health with a real check of PostgreSQL, Kafka and Temporal; 503 when one fails. */
const healthRoutes: FastifyPluginAsyncZod<{ version: string }> = async (app, { version }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Health of the API and of the servers it depends on',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (request, reply) => {
      const { config, health, clock } = app.services;
      const { checks, failures } = await checkHealth(health, config.api.dependencyTimeoutMs);
      const healthy = Object.values(checks).every((c) => c === 'ok');
      if (!healthy) request.log.warn({ failures }, 'health check failed');
      return reply.code(healthy ? 200 : 503).send({
        status: healthy ? 'healthy' : 'unhealthy',
        timestamp: clock().toISOString(),
        service: config.api.serviceName,
        version,
        checks,
      });
    },
  );
};

export default healthRoutes;
