import Module from 'node:module';
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

/**
 * Remembers where each `require(request)` from each module resolved to. The instrumentations patch
 * `require` (require-in-the-middle), and the patch resolves the file of every call, cached or not,
 * through `Module._resolveFilename`, which bypasses Node's own cache of resolutions and, under tsx,
 * goes through tsx's resolver (an Error and its stack per call): 35 µs a call, 1.5 µs remembered.
 * kafkajs requires its request codecs on every request. A module's file does not move while the
 * process runs, so a resolution is kept for good, as Node's own cache keeps it.
 */
function cacheModuleResolution(): void {
  type Resolve = (request: string, parent: { filename?: string | null } | undefined, isMain: boolean, options?: unknown) => string;
  const modules = Module as unknown as { _resolveFilename: Resolve };
  const resolve = modules._resolveFilename;
  const resolved = new Map<string, string>();
  modules._resolveFilename = function (this: unknown, request, parent, isMain, options) {
    if (options !== undefined || isMain || !parent?.filename) return resolve.call(this, request, parent, isMain, options);
    const key = `${parent.filename}\0${request}`;
    let filename = resolved.get(key);
    if (filename === undefined) {
      filename = resolve.call(this, request, parent, isMain, options);
      resolved.set(key, filename);
    }
    return filename;
  };
}

cacheModuleResolution();
registerInstrumentations({ instrumentations });
