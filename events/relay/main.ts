import '../../telemetry/instrumentations.js';
import { loadConfig } from '../../config/index.js';
import { createPrisma } from '../../db/prisma.js';
import { initTelemetry } from '../../telemetry/index.js';
import { createIdempotentProducer, createKafka } from '../kafka.js';
import { createLogger } from '../../runtime/log.js';
import { ensureTopics, whenKafkaAnswers } from '../process.js';
import { runProcess } from '../../runtime/lifecycle.js';
import { OutboxRelay, outboxLag } from './relay.js';
import { kafkaNames } from '../kafka-names.js';

/** How often the relay logs its lag. */
const LAG_LOG_INTERVAL_MS = 30_000;
/** Long enough for the producer's own retries; past it PostgreSQL ends the batch's transaction, which goes out again. */
const BATCH_LIMIT_MS = 60_000;

/**
 * The outbox relay process (`npm run relay`). Provisions the topics, then publishes the outbox
 * until SIGINT or SIGTERM, which let the batch in flight finish before the connections close.
 * Run as many as you like: they share the work and keep each order's events in order.
 */
const config = loadConfig();
const log = createLogger('relay', config.logLevel);
runProcess({ name: 'outbox relay', log, deadlineMs: config.shutdownDeadlineMs }, async () => {
  const telemetry = initTelemetry(config, { serviceName: 'outbox-relay' });
  await telemetry.serveMetrics({ host: config.metrics.host, port: config.metrics.ports.relay, log });
  const names = kafkaNames(config.kafka.topicPrefix);
  const kafka = createKafka(config, 'relay', log);

  await ensureTopics(kafka, config, log);

  const prisma = createPrisma(config.postgres.url, { poolSize: config.postgres.poolSize, abandonAfterMs: BATCH_LIMIT_MS });
  const producer = createIdempotentProducer(kafka);
  await whenKafkaAnswers('connecting the producer', log, () => producer.connect());
  const relay = new OutboxRelay({
    prisma,
    producer,
    names,
    log,
    batchSize: config.relay.batchSize,
    pollIntervalMs: config.relay.pollIntervalMs,
    listenUrl: config.postgres.url,
  });
  relay.observeLag();
  relay.start();
  log.info({ brokers: config.kafka.brokers, prefix: config.kafka.topicPrefix }, 'outbox relay running');

  const lagTimer = setInterval(() => {
    outboxLag(prisma).then(
      (lag) =>
        lag.parked > 0
          ? log.warn({ ...lag }, 'outbox lag; rows are parked (the broker refuses them), see park_reason in the outbox table')
          : log.info({ ...lag }, 'outbox lag'),
      (error: unknown) => log.warn({ err: error }, 'cannot read the outbox lag'),
    );
  }, LAG_LOG_INTERVAL_MS);

  return {
    close: async () => {
      clearInterval(lagTimer);
      await relay.stop();
      await producer.disconnect();
      await prisma.$disconnect();
      await telemetry.shutdown();
    },
  };
});
