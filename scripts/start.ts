import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { StackError } from '../stack/processes.js';
import { consoleSay } from '../stack/progress.js';
import { status, up } from '../stack/stack.js';
import { launchApplication, prepareApplication, type RunningApplication } from './application.js';

/**
 * `npm start`: the whole system on this machine. Installs and starts the stack, migrates and seeds
 * the database, runs the application's processes in the foreground and prints where everything is.
 * Ctrl-C stops the application; the stack keeps running (`npm run stack -- down` stops it).
 * `npm start -- --scale`: the scaled-out topology (a 3-node Kafka cluster, two APIs, two workers,
 * two relays); give it a state directory of its own (STACK_STATE_DIR), it is another cluster.
 */
async function main(): Promise<void> {
  const scale = process.argv.includes('--scale');
  const scaleEnv = scale ? { KAFKA_NODES: '3' } : {};
  // `npm start -- --traces`: Zipkin too; while it runs, every process sends it its spans.
  const config = loadConfig({ ...process.env, ...scaleEnv, ...(process.argv.includes('--traces') && { STACK_TRACES: 'true' }) });
  const { urls } = await up(config, { say: consoleSay('start: ') });
  // Asked for now, or left running by `npm run stack -- up --traces`.
  const traced = urls.zipkin !== undefined || (await status(config)).some((s) => s.name === 'zipkin' && s.answering);
  await prepareApplication(config, (line) => console.log(`start: ${line}`));

  const stopAll = async (code: number) => {
    await (await launching.catch(() => undefined))?.stop();
    process.exit(code);
  };
  const launching: Promise<RunningApplication> = launchApplication({
    // Spans go to Zipkin unless told to export elsewhere (OTEL_TRACES_EXPORTER).
    env: {
      ...scaleEnv,
      ...(traced && config.telemetry.exporter === 'none' && { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: config.zipkin.spansUrl }),
    },
    scale,
    onExit: (name, code) => {
      console.error(`start: ${name} exited (${code}); stopping the others`);
      void stopAll(1);
    },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll(0));
  await launching;

  console.log(`
The order saga is running.
  API               ${config.api.url}/api/v1${scale ? `   (and http://${config.api.host}:${config.api.port + 1}/api/v1)` : ''}
  API docs          ${config.api.url}/docs   (OpenAPI: ${config.api.url}/openapi.json)
  Health            ${config.api.url}/health
  Temporal Web UI   ${config.temporal.uiUrl}
  Temporal server   ${config.temporal.address} (namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue})
  Kafka             ${config.kafka.brokers.join(',')}
  PostgreSQL        ${config.postgres.url.replace(/:[^:@/]+@/, ':***@')}
  Metrics           ${metricsUrls(config).join('  ') || 'off'}
  Traces            ${traced ? `${config.zipkin.uiUrl}   (Zipkin; an order's: ${config.zipkin.uiUrl}traces/<trace id>)` : 'npm start -- --traces runs Zipkin and sends them there'}

  Mail (dev)        ${config.mail.smtpUrl ? 'SMTP' : config.mail.dir}

  An order's saga:      ${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/order-<order_id>
  A token for the API:  npm run token -- <user-id> [--admin]
  The Temporal CLI:     npm run stack -- temporal workflow list
  Ctrl-C stops the application; npm run stack -- down stops the servers.`);
}

/** Each process's /metrics, in the order npm start runs them. */
function metricsUrls(config: Config): string[] {
  const { host, ports } = config.metrics;
  return [ports.worker, ports.api, ports.relay, ports.subscribers].filter((port) => port !== 0).map((port) => `http://${host}:${port}/metrics`);
}

main().catch((error: unknown) => {
  if (!(error instanceof StackError || error instanceof ConfigError)) throw error;
  console.error(`start: ${error.message}`);
  process.exit(1);
});
