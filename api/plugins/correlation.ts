import { randomUUID } from 'node:crypto';
import { type IncomingMessage } from 'node:http';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's X-Request-Id is kept when it is a sane token; otherwise the request gets a new uuid. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

/**
 * The trace an order's events carry (`metadata.trace_id`): the request span's, which continues the
 * caller's W3C `traceparent` when one came; while tracing is off, the `traceparent`'s own trace id.
 */
export function traceIdOf(request: FastifyRequest): string | undefined {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && isSpanContextValid(active)) return active.traceId;
  const header = request.headers.traceparent;
  const match = typeof header === 'string' ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(header) : null;
  return match?.[1] && !/^0+$/.test(match[1]) ? match[1] : undefined;
}

/** Returns the correlation id (Fastify's request id) on every response, errors included. */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header(REQUEST_ID_HEADER, request.id);
    });
  },
  { name: 'correlation' },
);
