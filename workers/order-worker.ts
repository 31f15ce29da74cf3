import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type NativeConnection, Runtime, Worker, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { HousekeepingActivities } from '../activities/housekeeping.js';
import type { OrderActivities } from '../activities/index.js';
import { type Telemetry } from '../telemetry/index.js';
import { tracingActivityInterceptors, workflowSpanSinks } from '../telemetry/temporal.js';
import { sagaMetrics } from './saga-metrics.js';
import { quietBundlerLogger } from './temporal-log.js';

/** The workflow code the order worker runs, bundled from this entry point. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptors (tracing) bundled with it: a worker given a bundle takes its interceptors from the bundle. */
export const workflowInterceptorsPath = fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url));

/** Bundles the workflow code once (webpack + swc, a couple of seconds), for workers and replays. */
export function bundleOrderWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [workflowInterceptorsPath], logger: quietBundlerLogger(Runtime.instance().logger) });
}

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** The saga's steps, and the housekeeping schedule's wherever it runs (workers/main.ts does). */
  activities: OrderActivities & Partial<HousekeepingActivities>;
  workflowBundle: WorkflowBundleOption;
  maxConcurrentActivities?: number;
  maxConcurrentWorkflowTasks?: number;
  /** How long a shutdown waits for running activities before cancelling them. */
  shutdownGraceTime?: string;
  /** This process's tracing: the workflows' spans are exported through it (dropped without it). */
  telemetry?: Telemetry;
}

/**
 * The sinks the workflows call, for a replay: the same as the worker's, so replaying a history
 * finds each one (sinks are not called while a workflow replays, so they record nothing).
 */
export function replaySinks() {
  return { ...workflowSpanSinks(), ...sagaMetrics().sinks };
}

/** The worker that runs OrderSaga, OrderHousekeeping and their activities; `worker.run()` polls until shut down. */
export function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  const metrics = sagaMetrics();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: options.workflowBundle,
    activities: options.activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks,
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
    interceptors: { activity: [...tracingActivityInterceptors, metrics.activityInterceptor] },
    sinks: { ...workflowSpanSinks(options.telemetry), ...metrics.sinks },
  });
}
