// Bundled with the workflow code (workers/order-worker.ts): Temporal's OpenTelemetry interceptors
// continue the client's trace in the sandbox, make a span for the workflow run and each activity it
// schedules, and pass the context on to the activities. Their span ids come from the workflow's
// seeded randomness, so they replay deterministically; adding or removing them shifts what the
// workflow itself would draw from it, harmless while the saga draws nothing (uuid4, Math.random).
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import {
  ApplicationFailure,
  isCancellation,
  proxySinks,
  workflowInfo,
  type Next,
  type Sinks,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
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

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor(), new SagaMetricsInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
