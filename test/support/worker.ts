import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createHousekeepingActivities } from '../../activities/housekeeping.js';
import { createActivities } from '../../activities/index.js';
import { type Config } from '../../config/index.js';
import { type Db } from '../../db/prisma.js';
import { systemClock } from '../../domain/clock.js';
import { type PaymentProvider } from '../../domain/payments/provider.js';
import { type Telemetry } from '../../telemetry/index.js';
import { bundleOrderWorkflows, createOrderWorker } from '../../workers/order-worker.js';

export interface RunningTestWorker {
  /** A client of the dev server, as the worker's housekeeping uses it. */
  client: Client;
  /** Stops polling, lets running tasks finish, and closes the connections. */
  stop(): Promise<void>;
}

/**
 * An order worker in the test's process, polling the dev server on its own task queue with the real
 * activities, the housekeeping's included (orders pending for `pendingGraceMs` are its to start).
 */
export async function startTestOrderWorker(options: {
  config: Config;
  taskQueue: string;
  db: Db;
  payments: PaymentProvider;
  telemetry?: Telemetry;
  pendingGraceMs?: number;
}): Promise<RunningTestWorker> {
  const { config, taskQueue, db } = options;
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  const pendingGraceMs = options.pendingGraceMs ?? config.worker.housekeeping.pendingGraceMs;
  const worker = await createOrderWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: await bundleOrderWorkflows(),
    activities: {
      ...createActivities({ db, clock: systemClock, payments: options.payments }),
      ...createHousekeepingActivities({ db, clock: systemClock, temporal: client, taskQueue, pendingGraceMs }),
    },
    telemetry: options.telemetry,
  });
  const running = worker.run();
  return {
    client,
    async stop() {
      worker.shutdown();
      await running;
      await clientConnection.close();
      await connection.close();
    },
  };
}
