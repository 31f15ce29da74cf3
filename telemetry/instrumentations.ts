import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { PrismaInstrumentation } from '@prisma/instrumentation';

/** Spans only, no metrics: idle while no span is exported (initTelemetry), since it costs Prisma's every query. */
export const prismaInstrumentation = new PrismaInstrumentation({
  // The statements themselves are node-postgres's spans; Prisma's own steps around them are CPU, not I/O.
  ignoreSpanTypes: ['prisma:client:serialize', 'prisma:client:compile', 'prisma:client:db_query'],
});

/**
 * The standard instrumentations, registered when this module is loaded: node-postgres is patched as
 * it is loaded, so every entry point imports this module before anything that imports `pg`
 * (Prisma's adapter, the relay). Their spans and metrics go to whatever `initTelemetry` registers later.
 *
 * - undici: `fetch`, so the payment provider's calls (a CLIENT span each, and `http.client.request.duration`);
 * - node:http, outgoing only (the JWKS fetch): the API's server span is its own (api/plugins/tracing.ts),
 *   named by route and the child of the caller's traceparent;
 * - pg: every SQL statement;
 * - Prisma: its operations and transactions (the statements in them are pg's spans).
 *
 * HTTP calls and SQL made outside any span (the relay's polling, a metrics scrape) start no trace of their own.
 */
export const instrumentations = [
  new HttpInstrumentation({
    // Not ignoreIncomingRequestHook: it runs an ignored request with tracing suppressed, the API's span included.
    disableIncomingRequestInstrumentation: true,
    // The worker reading the Temporal SDK's metrics endpoint is no call of the application's.
    ignoreOutgoingRequestHook: (request) => request.path === '/metrics',
    requireParentforOutgoingSpans: true,
  }),
  new UndiciInstrumentation({ requireParentforSpans: true }),
  new PgInstrumentation({ requireParentSpan: true }),
  prismaInstrumentation,
];

registerInstrumentations({ instrumentations });
