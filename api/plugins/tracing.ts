import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { withTrace } from '../../runtime/log.js';

const tracer = trace.getTracer('order-api');

/**
 * A server span per request (OpenTelemetry HTTP conventions), the child of the caller's W3C
 * `traceparent` when one came. The handler runs with the span active, so whatever it starts (the
 * saga, through Temporal's client interceptor) and records (outbox rows) belongs to its trace.
 * Without a registered tracer provider (initTelemetry) the spans are no-ops.
 */
export default fp(
  async (app: FastifyInstance) => {
    const spans = new WeakMap<FastifyRequest, { span: Span; context: Context }>();

    app.addHook('onRequest', (request, _reply, done) => {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const route = request.routeOptions.url;
      const span = tracer.startSpan(
        route ? `${request.method} ${route}` : request.method,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [ATTR_HTTP_REQUEST_METHOD]: request.method,
            [ATTR_URL_PATH]: request.url.split('?')[0],
            [ATTR_URL_SCHEME]: request.protocol,
            ...(route && { [ATTR_HTTP_ROUTE]: route }),
            ...(request.headers['user-agent'] && { [ATTR_USER_AGENT_ORIGINAL]: request.headers['user-agent'] }),
          },
        },
        parent,
      );
      spans.set(request, { span, context: trace.setSpan(parent, span) });
      // Fastify's own lines about the request ("request completed") are logged outside the span.
      if (isSpanContextValid(span.spanContext())) request.log = withTrace(request.log, span.spanContext());
      done();
    });

    // Reading the body leaves the async context of the hooks before it, so the span is made active
    // again for the handler (and the hooks that run with it).
    app.addHook('preHandler', (request, _reply, done) => {
      const active = spans.get(request);
      if (active) context.with(active.context, done);
      else done();
    });

    app.addHook('onError', async (request, reply, error) => {
      if (reply.statusCode < 500) return;
      const span = spans.get(request)?.span;
      span?.recordException(error);
      span?.setAttribute(ATTR_ERROR_TYPE, error.name);
    });

    app.addHook('onResponse', async (request, reply) => {
      const span = spans.get(request)?.span;
      if (!span) return;
      spans.delete(request);
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });

    app.addHook('onRequestAbort', async (request) => {
      const span = spans.get(request)?.span;
      if (!span) return;
      spans.delete(request);
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection' });
      span.end();
    });
  },
  { name: 'tracing' },
);
