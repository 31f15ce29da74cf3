import http from 'node:http';
import { createTraceState, type SpanContext } from '@opentelemetry/api';
import { type Resource } from '@opentelemetry/resources';
import { type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { type ClientInterceptors } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
  type SerializableSpan,
} from '@temporalio/interceptors-opentelemetry';
import { type ActivityInterceptorsFactory, type InjectedSinks, type RuntimeOptions } from '@temporalio/worker';
import { type WorkflowInfo } from '@temporalio/workflow';
import { type Telemetry } from './index.js';

/**
 * Temporal's OpenTelemetry interceptors: the client puts the caller's trace context into the
 * headers of every workflow it starts or signals, the workflow interceptors (workflows/interceptors.ts,
 * bundled with the workflow code) continue it inside the sandbox and pass it on to each activity,
 * and the activity interceptors continue it in the worker.
 */
export function tracingClientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

export const tracingActivityInterceptors: ActivityInterceptorsFactory[] = [
  (ctx) => ({
    inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
    outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
  }),
  // Inside the activity's span, so that the line carries its trace.
  (ctx) => ({
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (error) {
          // A non-retryable failure is a business refusal (declined card, out of stock): an outcome, not a fault.
          if (error instanceof ApplicationFailure && error.nonRetryable) {
            ctx.log.info(`${ctx.info.activityType} refused: ${error.message}`, { refusal: error.type });
          }
          throw error;
        }
      },
    },
  }),
];

/**
 * The sink through which the sandboxed workflow interceptors hand over their finished spans
 * (`RunWorkflow`, `StartActivity`…): a worker must register it whenever the bundle includes those
 * interceptors, and drops the spans when this process does not trace. Temporal does not call it
 * while replaying, so a replayed workflow exports nothing twice.
 */
export function workflowSpanSinks(telemetry?: Telemetry): InjectedSinks<OpenTelemetrySinks> {
  return {
    exporter: {
      export: {
        fn(info, spans) {
          if (!telemetry) return;
          for (const span of spans) telemetry.spanProcessor.onEnd(toReadableSpan(span, info, telemetry.resource));
        },
      },
    },
  };
}

/**
 * The interceptors' sandbox runs OpenTelemetry SDK 1.x and serialises its spans in that shape
 * (`parentSpanId`, `instrumentationLibrary`); this process runs SDK 2.x, whose processors and
 * exporters read `parentSpanContext` and `instrumentationScope`.
 */
function toReadableSpan(span: SerializableSpan, info: WorkflowInfo, resource: Resource): ReadableSpan {
  const { traceState, ...ids } = span.spanContext;
  const spanContext: SpanContext = { ...ids, traceState: traceState ? createTraceState(traceState) : undefined };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanId
      ? { traceId: spanContext.traceId, spanId: span.parentSpanId, traceFlags: spanContext.traceFlags }
      : undefined,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    // The keys Temporal's activity spans use, so a workflow's and its activities' spans are found alike.
    attributes: { ...span.attributes, temporalWorkflowId: info.workflowId, run_id: info.runId },
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource,
    instrumentationScope: span.instrumentationLibrary,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** The Temporal SDK's own Prometheus endpoint (Runtime telemetry), served on loopback for the worker's /metrics to include. */
export function temporalMetricsOptions(port: number): NonNullable<RuntimeOptions['telemetryOptions']>['metrics'] {
  return { prometheus: { bindAddress: `127.0.0.1:${port}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } };
}

/** Reads what the Temporal SDK's endpoint serves, leaving out the resource description the worker's own series already carry. */
export function readTemporalMetrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', timeout: 2_000 }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text.split('\n').filter((line) => !/^(# (HELP|TYPE) )?target_info\b/.test(line)).join('\n')));
        response.on('error', reject);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('the Temporal SDK metrics endpoint did not answer'));
      })
      .on('error', reject);
  });
}
