import { metrics } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** OpenTelemetry's advice for this histogram (HTTP semantic conventions), in seconds. */
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * `http.server.request.duration` (OpenTelemetry HTTP conventions) for every answered request, by
 * method, route template (never the raw path, which would make a series per order id) and status:
 * its count is the request rate, its buckets the latency. A no-op until initTelemetry registers a meter provider.
 */
export default fp(
  async (app: FastifyInstance) => {
    const duration = metrics.getMeter('order-api').createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of HTTP server requests',
      advice: { explicitBucketBoundaries: durationBuckets },
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url;
      duration.record(reply.elapsedTime / 1000, {
        [ATTR_HTTP_REQUEST_METHOD]: request.method,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: reply.statusCode,
        ...(route && { [ATTR_HTTP_ROUTE]: route }),
      });
    });
  },
  { name: 'http-metrics' },
);
