import { context, diag, DiagConsoleLogger, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
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

export interface TelemetryOptions {
  /** `service.name` of this process's spans: order-api, order-worker, outbox-relay… */
  serviceName: string;
  /** Takes the place of the configured exporter, each span handed over as it ends (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter;
}

/** This process's tracing, once `initTelemetry` has registered it. */
export interface Telemetry {
  readonly resource: Resource;
  /** Where finished spans go; the order worker also hands it the spans its workflows made in the sandbox. */
  readonly spanProcessor: SpanProcessor;
  /** Exports what is still buffered, then unregisters the tracer provider, propagator, context manager and diag logger. */
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
  }
}

/**
 * Registers OpenTelemetry for this process: a tracer provider exporting as configured
 * (`OTEL_TRACES_EXPORTER`), W3C trace context as the propagator, and AsyncLocalStorage to carry
 * the active span across awaits. Call it first thing in a process's entry point. With the
 * exporter `none`, spans are still made, so trace ids and `traceparent` headers flow end to end.
 */
export function initTelemetry(config: Config, options: TelemetryOptions): Telemetry {
  // The SDK reports what goes wrong (a collector that cannot be reached) through its diag logger.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_NAMESPACE]: config.telemetry.serviceNamespace,
  });
  const spanProcessor = spanProcessorFor(config.telemetry, options.exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register({ propagator: new W3CTraceContextPropagator(), contextManager: new AsyncLocalStorageContextManager() });
  return {
    resource,
    spanProcessor,
    async shutdown() {
      // Spans the collector cannot take are lost either way: say so, and let the process stop cleanly.
      await provider.shutdown().catch((error: unknown) => diag.error('could not export the last spans', error));
      trace.disable();
      propagation.disable();
      context.disable();
      diag.disable();
    },
  };
}
