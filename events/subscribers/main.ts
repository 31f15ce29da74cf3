import '../../telemetry/instrumentations.js';
import { loadConfig } from '../../config/index.js';
import { createPrisma } from '../../db/prisma.js';
import { systemClock } from '../../domain/clock.js';
import { initTelemetry } from '../../telemetry/index.js';
import { startSubscriber, type RunningSubscriber } from '../consumer.js';
import { observeConsumerLag } from '../consumer-metrics.js';
import { createIdempotentProducer, createKafka } from '../kafka.js';
import { createLogger } from '../../runtime/log.js';
import { ensureTopics, whenKafkaAnswers } from '../process.js';
import { runProcess } from '../../runtime/lifecycle.js';
import { createAnalyticsSubscriber } from './analytics.js';
import { createMailer } from './mailer.js';
import { createNotificationSubscriber } from './notification.js';
import { createSearchSubscriber } from './search.js';
import { kafkaNames } from '../kafka-names.js';

/**
 * The subscribers process (`npm run subscribers`): notification, search and analytics, each in its
 * own consumer group. Provisions the topics first (the broker creates none on demand). SIGINT or
 * SIGTERM lets each finish the event in hand, commits, and leaves the groups.
 */
/** Seed "Communication Best Practices": event processing 30 s; past it PostgreSQL ends the event's transaction, and it is retried. */
const EVENT_LIMIT_MS = 30_000;

const config = loadConfig();
const log = createLogger('subscribers', config.logLevel);
runProcess({ name: 'subscribers', log, deadlineMs: config.shutdownDeadlineMs }, async () => {
  const telemetry = initTelemetry(config, { serviceName: 'event-subscribers' });
  await telemetry.serveMetrics({ host: config.metrics.host, port: config.metrics.ports.subscribers, log });
  const names = kafkaNames(config.kafka.topicPrefix);
  const kafka = createKafka(config, 'subscribers', log);

  await ensureTopics(kafka, config, log);

  const prisma = createPrisma(config.postgres.url, { poolSize: config.postgres.poolSize, abandonAfterMs: EVENT_LIMIT_MS });
  const producer = createIdempotentProducer(kafka);
  await whenKafkaAnswers('connecting the producer', log, () => producer.connect());
  const mailer = createMailer(config.mail);
  const deps = {
    kafka,
    prisma,
    names,
    producer,
    log,
    retry: { maxAttempts: config.subscribers.maxAttempts, initialMs: config.subscribers.retryInitialMs, maxMs: config.subscribers.retryMaxMs },
  };
  const subscribers = [
    createNotificationSubscriber({ mailer, clock: systemClock, recipientDomain: config.mail.recipientDomain }),
    createSearchSubscriber(),
    createAnalyticsSubscriber(),
  ];
  const running: RunningSubscriber[] = [];
  for (const subscriber of subscribers) running.push(await startSubscriber(deps, subscriber));
  const admin = kafka.admin();
  await admin.connect();
  observeConsumerLag(admin, names, subscribers.map((s) => s.group));
  log.info(
    { groups: running.map((r) => r.group), mail: config.mail.smtpUrl ? 'smtp' : `files in ${config.mail.dir}` },
    'subscribers running',
  );

  return {
    close: async () => {
      await Promise.all(running.map((r) => r.stop()));
      await admin.disconnect();
      mailer.close();
      await producer.disconnect();
      await prisma.$disconnect();
      await telemetry.shutdown();
    },
  };
});
