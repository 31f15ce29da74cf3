import '../telemetry/instrumentations.js';
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { makeTelemetryFilterString, NativeConnection, Runtime } from '@temporalio/worker';
import { createHousekeepingActivities } from '../activities/housekeeping.js';
import { createActivities } from '../activities/index.js';
import { loadConfig } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { HttpPaymentProvider } from '../domain/payments/http-provider.js';
import { runProcess } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/log.js';
import { initTelemetry } from '../telemetry/index.js';
import { readTemporalMetrics, temporalMetricsOptions, tracingClientInterceptors } from '../telemetry/temporal.js';
import { ensureHousekeepingSchedule } from './housekeeping-schedule.js';
import { bundleOrderWorkflows, createOrderWorker } from './order-worker.js';
import { temporalLogger } from './temporal-log.js';

/**
 * The order worker process (`npm run worker`): runs the sagas, and keeps the housekeeping schedule
 * that backs them up. SIGINT or SIGTERM stops polling, lets running activities finish (up to the
 * grace time), then exits; Temporal hands anything unfinished to another worker.
 */
const config = loadConfig();
const log = createLogger('worker', config.logLevel);
const graceMs = config.worker.shutdownGraceSeconds * 1000;
runProcess({ name: 'order worker', log, deadlineMs: graceMs + config.shutdownDeadlineMs }, async () => {
  const telemetry = initTelemetry(config, { serviceName: 'order-worker' });
  const { host, ports, temporalPort } = config.metrics;
  // The lifecycle owns the signals: it asks the worker to shut down, then waits for it.
  // The SDK's and its core's logs are the worker's pino lines; its metrics, those of its /metrics.
  const installRuntime = (withMetrics: boolean) =>
    Runtime.install({
      logger: temporalLogger(log),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
        ...(withMetrics && { metrics: temporalMetricsOptions(temporalPort) }),
      },
      shutdownSignals: [],
    });
  let temporalMetrics = ports.worker !== 0;
  try {
    installRuntime(temporalMetrics);
  } catch (error) {
    if (!temporalMetrics) throw error;
    // The port taken (another worker on this machine): the sagas matter more than these series.
    log.warn({ err: error, port: temporalPort }, `cannot serve the Temporal SDK's metrics on 127.0.0.1:${temporalPort}; running without them`);
    temporalMetrics = false;
    installRuntime(false);
  }
  await telemetry.serveMetrics({ host, port: ports.worker, log, more: temporalMetrics ? () => readTemporalMetrics(temporalPort) : undefined });

  // Production starts from the bundle built at release (npm run build:workflows), so every
  // replica runs the same code; development bundles the source as it is now.
  const bundlePath = config.worker.workflowBundlePath;
  if (config.env === 'production' && !fs.existsSync(bundlePath)) {
    throw new Error(`no prebuilt workflow bundle at ${bundlePath}; run npm run build:workflows`);
  }
  const workflowBundle = config.env === 'production' ? { codePath: bundlePath } : await bundleOrderWorkflows();

  const db = createPrisma(config.postgres.url, { poolSize: config.postgres.poolSize });
  const connection = await NativeConnection.connect(config.temporal.connection);
  // The housekeeping starts sagas and keeps its schedule through a client of its own.
  const clientConnection = await Connection.connect(config.temporal.connection);
  const temporal = new Client({ connection: clientConnection, namespace: config.temporal.namespace, interceptors: tracingClientInterceptors() });
  const { taskQueue, namespace } = config.temporal;
  const { intervalSeconds, pendingGraceMs } = config.worker.housekeeping;
  const worker = await createOrderWorker({
    connection,
    namespace,
    taskQueue,
    workflowBundle,
    activities: {
      ...createActivities({ db, clock: systemClock, payments: new HttpPaymentProvider(config.paymentProvider.url) }),
      ...createHousekeepingActivities({ db, clock: systemClock, temporal, taskQueue, pendingGraceMs }),
    },
    maxConcurrentActivities: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTasks: config.worker.maxConcurrentWorkflowTasks,
    shutdownGraceTime: `${config.worker.shutdownGraceSeconds} seconds`,
    telemetry,
  });
  await ensureHousekeepingSchedule(temporal, { taskQueue, intervalSeconds });
  const running = worker.run();
  log.info(
    { address: config.temporal.address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue },
    `order worker polling ${config.temporal.address}, namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
  );
  return {
    done: running,
    close: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await clientConnection.close();
      await connection.close();
      await db.$disconnect();
      await telemetry.shutdown();
    },
  };
});
