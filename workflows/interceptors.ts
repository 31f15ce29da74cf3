// Bundled with the workflow code (workers/order-worker.ts): Temporal's OpenTelemetry interceptors
// continue the client's trace in the sandbox, make a span for the workflow run and each activity it
// schedules, and pass the context on to the activities. Their span ids come from the workflow's
// seeded randomness, so they replay deterministically; adding or removing them shifts what the
// workflow itself would draw from it, harmless while the saga draws nothing (uuid4, Math.random).
import type * as TemporalTracing from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  ApplicationFailure,
  isCancellation,
  patched,
  proxySinks,
  workflowInfo,
  type Next,
  type Sinks,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { orderSagaType, type OrderSagaResult } from './definitions.js';

/** How a saga ended, for its metrics: its result's status and reason, or `error` and the failure's type. */
export interface SagaEnding {
  outcome: OrderSagaResult['status'] | 'error';
  reason?: string;
}

/**
 * The worker's saga metrics (workers/saga-metrics.ts). A sink is called in the worker, outside the
 * sandbox, and not while a history is replayed, so each saga is counted once however often it is
 * replayed; calling it issues no command.
 */
export interface SagaMetricsSinks extends Sinks {
  sagaMetrics: {
    started(): void;
    ended(ending: SagaEnding): void;
  };
}

function endingOf(error: unknown): SagaEnding {
  // Cancelled through Temporal: the saga cancelled the order, then ended cancelled as asked.
  if (isCancellation(error)) return { outcome: 'cancelled', reason: 'cancelled_through_temporal' };
  return { outcome: 'error', reason: error instanceof ApplicationFailure && error.type ? error.type : (error as Error).name };
}

/** Tells the worker when an OrderSaga starts and how it ends; the saga's own code knows nothing of metrics. */
class SagaMetricsInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    if (workflowInfo().workflowType !== orderSagaType) return next(input);
    const { sagaMetrics } = proxySinks<SagaMetricsSinks>();
    sagaMetrics.started();
    try {
      const result = (await next(input)) as OrderSagaResult;
      sagaMetrics.ended({ outcome: result.status, reason: result.failureReason });
      return result;
    } catch (error) {
      sagaMetrics.ended(endingOf(error));
      throw error;
    }
  }
}

/** The header Temporal's OpenTelemetry interceptors carry the trace context in (`{ traceparent }`). */
const traceHeader = '_tracer-data';

/** Whether the trace a workflow was started in is sampled: the W3C traceparent's flags, `01`. */
function sampled(headers: WorkflowExecuteInput['headers']): boolean {
  const payload = headers[traceHeader];
  if (!payload) return false;
  const { traceparent } = defaultPayloadConverter.fromPayload<{ traceparent?: string }>(payload);
  return traceparent !== undefined && (Number.parseInt(traceparent.slice(-2), 16) & 1) === 1;
}

type Interceptor = Record<PropertyKey, ((input: unknown, next: (input: unknown) => unknown) => unknown) | undefined>;

/** An interceptor that hands each call to `target()` when it has that method, and passes it on otherwise. */
function delegateTo(target: () => object | undefined): Interceptor {
  return new Proxy({} as Interceptor, {
    get: (_, method) => (input: unknown, next: (input: unknown) => unknown) => {
      const interceptor = target() as Interceptor | undefined;
      const call = interceptor?.[method];
      return call ? call.call(interceptor, input, next) : next(input);
    },
  });
}

/**
 * Temporal's OpenTelemetry interceptors, for a workflow whose trace is sampled. Loading them is a
 * third of a new saga's CPU in the sandbox (the OpenTelemetry SDK's modules are evaluated afresh
 * for each workflow, then a span made for each step): a trace that is not sampled (`OTEL_TRACES_EXPORTER`
 * `none`, or a sampler's choice) records none of those spans, so it skips them, and its activities
 * get the start's trace context as it came, so that their log lines still carry the order's trace
 * id. The choice is made from the start's headers, which the history keeps, so a replay makes the
 * same one. A saga begun before this change (no `trace-sampled-sagas-only` marker) keeps the
 * interceptors: their extra awaits decide which command comes first when a cancel races a step,
 * so taking them away from a running saga would break its replay.
 */
function sampledTracing(): WorkflowInterceptors {
  let tracing: { inbound: object; outbound: object; internals: object } | undefined;
  let startTrace: Payload | undefined;
  const execute: WorkflowInboundCallsInterceptor['execute'] = (input, next) => {
    if (!sampled(input.headers) && patched('trace-sampled-sagas-only')) {
      startTrace = input.headers[traceHeader];
      return next(input);
    }
    // Required here, not imported, so that a workflow whose trace is not sampled never evaluates them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const otel = require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js') as typeof TemporalTracing;
    tracing = {
      inbound: new otel.OpenTelemetryInboundInterceptor(),
      outbound: new otel.OpenTelemetryOutboundInterceptor(),
      internals: new otel.OpenTelemetryInternalsInterceptor(),
    };
    return (tracing.inbound as WorkflowInboundCallsInterceptor).execute!(input, next);
  };
  /** Without the interceptors, an activity continues the trace the saga was started in. */
  const withStartTrace =
    (method: 'scheduleActivity' | 'scheduleLocalActivity') =>
    <I extends { headers: Record<string, Payload> }>(input: I, next: (input: I) => unknown) => {
      const otel = tracing?.outbound as Interceptor | undefined;
      if (otel) return otel[method]!.call(otel, input, next as (input: unknown) => unknown);
      return next(startTrace ? { ...input, headers: { ...input.headers, [traceHeader]: startTrace } } : input);
    };
  const outbound = Object.assign(Object.create(delegateTo(() => tracing?.outbound)) as WorkflowOutboundCallsInterceptor, {
    scheduleActivity: withStartTrace('scheduleActivity'),
    scheduleLocalActivity: withStartTrace('scheduleLocalActivity'),
  });
  return {
    inbound: [Object.assign(Object.create(delegateTo(() => tracing?.inbound)) as WorkflowInboundCallsInterceptor, { execute })],
    outbound: [outbound],
    internals: [delegateTo(() => tracing?.internals)],
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  const tracing = sampledTracing();
  return {
    inbound: [...tracing.inbound!, new SagaMetricsInterceptor()],
    outbound: tracing.outbound,
    internals: tracing.internals,
  };
};
