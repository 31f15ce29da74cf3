import { metrics } from '@opentelemetry/api';
import { ApplicationFailure } from '@temporalio/common';
import { type ActivityInterceptorsFactory, type InjectedSinks } from '@temporalio/worker';
import { type OrderActivities } from '../activities/index.js';
import { type SagaMetricsSinks } from '../workflows/interceptors.js';

/** The steps that undo others (workflows/order-saga.ts registers them before the step they undo). */
const compensations = new Set<keyof OrderActivities>(['releaseReservation', 'reversePayment']);

/** From a fast saga to one that waits out its 15-minute 3-D Secure reservation, and a compensation that retries past it. */
const sagaDurationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600];

/**
 * The sagas' metrics, recorded in the worker: started and ended (by outcome and reason) sagas and
 * their duration from the workflow's start, through the sink the workflow interceptors call
 * (workflows/interceptors.ts), and each compensation's attempts through an activity interceptor.
 * Meters are taken when this is called, so it must come after initTelemetry.
 */
export function sagaMetrics(): { sinks: InjectedSinks<SagaMetricsSinks>; activityInterceptor: ActivityInterceptorsFactory } {
  const meter = metrics.getMeter('order-saga-worker');
  const started = meter.createCounter('saga.started', { description: 'OrderSagas started' });
  const ended = meter.createCounter('saga.ended', { description: 'OrderSagas ended, by outcome (confirmed, failed, cancelled, error) and reason' });
  const duration = meter.createHistogram('saga.duration', {
    unit: 's',
    description: 'From the workflow start to the end of the saga, by outcome',
    advice: { explicitBucketBoundaries: sagaDurationBuckets },
  });
  const compensationRuns = meter.createCounter('saga.compensations', {
    description: 'Compensation attempts by compensation and outcome: completed, retrying (a retryable failure), failed (for good: the saga fails loudly)',
  });

  return {
    sinks: {
      sagaMetrics: {
        started: { fn: () => started.add(1) },
        ended: {
          fn: (info, { outcome, reason }) => {
            const attributes = { outcome, reason: reason ?? '' };
            ended.add(1, attributes);
            duration.record((Date.now() - info.startTime.getTime()) / 1000, { outcome });
          },
        },
      },
    },
    activityInterceptor: (ctx) => ({
      inbound: {
        async execute(input, next) {
          const compensation = ctx.info.activityType;
          if (!compensations.has(compensation as keyof OrderActivities)) return next(input);
          try {
            const result = await next(input);
            compensationRuns.add(1, { compensation, outcome: 'completed' });
            return result;
          } catch (error) {
            const forGood = error instanceof ApplicationFailure && error.nonRetryable;
            compensationRuns.add(1, { compensation, outcome: forGood ? 'failed' : 'retrying' });
            throw error;
          }
        },
      },
    }),
  };
}
