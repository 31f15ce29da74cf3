import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { type Config } from '../../config/index.js';
import { type Db } from '../../db/prisma.js';
import { systemClock } from '../../domain/clock.js';
import { type PaymentProvider } from '../../domain/payments/provider.js';
import { type Telemetry } from '../../telemetry/index.js';
import { bundleOrderWorkflows, createOrderWorker } from '../../workers/order-worker.js';

export interface RunningTestWorker {
  /** Stops polling, lets running tasks finish, and closes the connection. */
  stop(): Promise<void>;
}

/** An order worker in the test's process, polling the dev server on its own task queue with the real activities. */
export async function startTestOrderWorker(options: {
  config: Config;
  taskQueue: string;
  db: Db;
  payments: PaymentProvider;
  telemetry?: Telemetry;
}): Promise<RunningTestWorker> {
  const connection = await NativeConnection.connect({ address: options.config.temporal.address });
  const worker = await createOrderWorker({
    connection,
    namespace: options.config.temporal.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: await bundleOrderWorkflows(),
    activities: createActivities({ db: options.db, clock: systemClock, payments: options.payments }),
    telemetry: options.telemetry,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
