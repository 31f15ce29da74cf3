import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type NativeConnection, Runtime, Worker, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { OrderActivities } from '../activities/index.js';

/** The workflow code the order worker runs, bundled from this entry point. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflow code once (webpack + swc, a couple of seconds), for workers and replays. */
export function bundleOrderWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: Runtime.instance().logger });
}

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: OrderActivities;
  workflowBundle: WorkflowBundleOption;
  maxConcurrentActivities?: number;
  maxConcurrentWorkflowTasks?: number;
  /** How long a shutdown waits for running activities before cancelling them. */
  shutdownGraceTime?: string;
}

/** The worker that runs OrderSaga and its activities; `worker.run()` polls until shut down. */
export function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: options.workflowBundle,
    activities: options.activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks,
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
  });
}
