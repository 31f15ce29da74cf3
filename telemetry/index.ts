import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { context, diag, DiagConsoleLogger, DiagLogLevel, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_NAMESPACE } from '@opentelemetry/semantic-conventions';
import { type Config } from '../config/index.js';
import { type Logger } from '../runtime/log.js';
import { instrumentations, prismaInstrumentation } from './instrumentations.js';

export interface TelemetryOptions {
  /** `service.name` of this process's spans and metrics: order-api, order-worker, outbox-relay… (OTEL_SERVICE_NAME overrides it). */
  serviceName: string;
  /** Takes the place of the configured exporter, each span handed over as it ends (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter;
}

export interface MetricsEndpointOptions {
  host: string;
  /** 0: no endpoint. */
  port: number;
  log: Logger;
  /** More Prometheus text served after this process's own (the worker's: the Temporal SDK's series). */
  more?: () => Promise<string>;
}

/** This process's tracing and metrics, once `initTelemetry` has registered them. */
export interface Telemetry {
  readonly resource: Resource;
  /** Where finished spans go; the order worker also hands it the spans its workflows made in the sandbox. */
  readonly spanProcessor: SpanProcessor;
  /**
   * Serves the metrics as Prometheus text on GET /metrics; returns its URL. A port already taken
   * is a warning, not a failure: the process does its work without the endpoint.
   */
  serveMetrics(options: MetricsEndpointOptions): Promise<string | undefined>;
  /** Stops the endpoint, exports what is still buffered, then unregisters the providers, propagator, context manager and diag logger. */
  shutdown(): Promise<void>;
}

function spanProcessorFor(telemetry: Config['telemetry'], exporter: SpanExporter | undefined): SpanProcessor {
  if (exporter) return new SimpleSpanProcessor(exporter);
  switch (telemetry.exporter) {
    case 'none':
      return new NoopSpanProcessor();
    case 'console':
      return new SimpleSpanProcessor(new ConsoleSpanExporter());
    case 'otlp':
      return new BatchSpanProcessor(new OTLPTraceExporter({ url: telemetry.otlpTracesUrl }));
    case 'zipkin':
      return new BatchSpanProcessor(new ZipkinExporter({ url: telemetry.zipkinSpansUrl }));
  }
}

/**
 * Registers OpenTelemetry for this process: a tracer provider exporting as configured
 * (`OTEL_TRACES_EXPORTER`; the sampler as `OTEL_TRACES_SAMPLER` says, always on by default), W3C
 * trace context as the propagator, AsyncLocalStorage to carry the active span across awaits, and a
 * meter provider read in Prometheus format (`serveMetrics`). Call it first thing in a process's
 * entry point. With the exporter `none`, spans are still made (unrecorded), so trace ids and
 * `traceparent` headers flow end to end.
 */
export function initTelemetry(config: Config, options: TelemetryOptions): Telemetry {
  // The SDK reports what goes wrong (a collector that cannot be reached) through its diag logger.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_NAMESPACE]: config.telemetry.serviceNamespace,
  }).merge(detectResources({ detectors: [envDetector] }));
  const spanProcessor = spanProcessorFor(config.telemetry, options.exporter);
  // Exporting nowhere, spans are made unrecorded: their ids still propagate (trace ids on log lines,
  // in events, in traceparent headers), without the cost of recording the spans of every statement.
  const exporting = options.exporter !== undefined || config.telemetry.exporter !== 'none';
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor], ...(!exporting && { sampler: new AlwaysOffSampler() }) });
  if (exporting) prismaInstrumentation.enable();
  else prismaInstrumentation.disable();
  tracerProvider.register({ propagator: new W3CTraceContextPropagator(), contextManager: new AsyncLocalStorageContextManager() });

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ resource, readers: [prometheus] });
  metrics.setGlobalMeterProvider(meterProvider);
  for (const instrumentation of instrumentations) instrumentation.setMeterProvider(meterProvider);
  // service.name and service.namespace as labels on every series, so one scrape config tells the processes apart.
  const serializer = new PrometheusSerializer(undefined, false, /^service\.(name|namespace)$/);
  let endpoint: http.Server | undefined;

  return {
    resource,
    spanProcessor,
    async serveMetrics({ host, port, log, more }) {
      if (port === 0) return undefined;
      const server = http.createServer((request, response) => {
        if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
          response.writeHead(404).end();
          return;
        }
        void (async () => {
          const { resourceMetrics, errors } = await prometheus.collect();
          for (const error of errors) log.warn({ err: error }, 'a metric could not be read');
          const extra = more ? await more().catch((error: unknown) => `# not available: ${(error as Error).message}\n`) : '';
          response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(serializer.serialize(resourceMetrics) + extra);
        })().catch((error: unknown) => {
          log.warn({ err: error }, 'serving /metrics failed');
          response.writeHead(500).end();
        });
      });
      const listening = await new Promise<boolean>((resolve) => {
        server.once('error', (error) => {
          log.warn({ err: error, host, port }, `cannot serve /metrics on ${host}:${port}; running without it`);
          resolve(false);
        });
        server.listen(port, host, () => resolve(true));
      });
      if (!listening) return undefined;
      endpoint = server;
      const url = `http://${host}:${(server.address() as AddressInfo).port}/metrics`;
      log.info({ metrics: url }, `metrics on ${url}`);
      return url;
    },
    async shutdown() {
      const server = endpoint;
      if (server) {
        const closed = new Promise((resolve) => server.close(resolve));
        server.closeAllConnections();
        await closed;
      }
      // Spans the collector cannot take are lost either way: say so, and let the process stop cleanly.
      await tracerProvider.shutdown().catch((error: unknown) => diag.error('could not export the last spans', error));
      await meterProvider.shutdown().catch(() => undefined);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
      diag.disable();
    },
  };
}
