import { loadConfig } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { initTelemetry } from '../telemetry/index.js';
import { startSubscriber, type RunningSubscriber } from './consumer.js';
import { createIdempotentProducer, createKafka } from './kafka.js';
import { createLogger } from './log.js';
import { ensureTopics, exitOnSignal } from './process.js';
import { createAnalyticsSubscriber } from './subscribers/analytics.js';
import { createMailer } from './subscribers/mailer.js';
import { createNotificationSubscriber } from './subscribers/notification.js';
import { createSearchSubscriber } from './subscribers/search.js';
import { kafkaNames } from './topics.js';

/**
 * The subscribers process (`npm run subscribers`): notification, search and analytics, each in its
 * own consumer group. Provisions the topics first (the broker creates none on demand). SIGINT or
 * SIGTERM lets each finish the event in hand, commits, and leaves the groups.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const telemetry = initTelemetry(config, { serviceName: 'event-subscribers' });
  const log = createLogger('subscribers', config.logLevel);
  const names = kafkaNames(config.kafka.topicPrefix);
  const kafka = createKafka(config, 'subscribers');

  await ensureTopics(kafka, config, log);

  const prisma = createPrisma(config.postgres.url);
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const mailer = createMailer(config.mail);
  const deps = {
    kafka,
    prisma,
    names,
    producer,
    log,
    retry: { maxAttempts: config.subscribers.maxAttempts, initialMs: config.subscribers.retryInitialMs, maxMs: config.subscribers.retryMaxMs },
  };
  const running: RunningSubscriber[] = [];
  for (const subscriber of [
    createNotificationSubscriber({ mailer, clock: systemClock, recipientDomain: config.mail.recipientDomain }),
    createSearchSubscriber(),
    createAnalyticsSubscriber(),
  ]) {
    running.push(await startSubscriber(deps, subscriber));
  }
  log.info(
    { groups: running.map((r) => r.group), mail: config.mail.smtpUrl ? 'smtp' : `files in ${config.mail.dir}` },
    'subscribers running',
  );

  exitOnSignal(log, async () => {
    await Promise.all(running.map((r) => r.stop()));
    mailer.close();
    await producer.disconnect();
    await prisma.$disconnect();
    await telemetry.shutdown();
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
