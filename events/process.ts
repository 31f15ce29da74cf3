import { setTimeout as sleep } from 'node:timers/promises';
import { type Kafka } from 'kafkajs';
import { type Config } from '../config/index.js';
import { type Logger } from '../runtime/log.js';
import { provisionTopics } from './provision.js';
import { kafkaNames } from './kafka-names.js';

/** How long a process's first step with Kafka keeps trying while the cluster cannot answer, and the pause between tries. */
const PROVISION_PATIENCE_MS = 120_000;
const PROVISION_PAUSE_MS = 2_000;

/** Whether a failure may pass: kafkajs says so of it or of what it gave up on (connection refused, a broker restarting). */
function mayPass(error: unknown): boolean {
  for (let e = error as { retriable?: boolean; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.retriable) return true;
  }
  return false;
}

/**
 * Runs a process's first step with Kafka, waiting for a cluster that cannot answer yet (a broker
 * restarting, or every broker down when the process starts) instead of ending the process: kafkajs
 * gives up after a few retries, with an error that is not retriable itself but whose cause is.
 */
export async function whenKafkaAnswers<T>(what: string, log: Logger, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PROVISION_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!mayPass(error) || Date.now() >= deadline) throw error;
      log.warn({ err: error, attempt }, `${what} failed; trying again`);
      await sleep(PROVISION_PAUSE_MS);
    }
  }
}

/**
 * What the relay and subscriber processes do first: provision the topics, saying what changed
 * (whenKafkaAnswers). On a cluster of several brokers, a broker may also not know a topic the
 * controller just created, and kafkajs gives up waiting for its leaders with a retriable error
 * (UNKNOWN_TOPIC_OR_PARTITION) on a busy machine: provisioning is idempotent, so it runs again and
 * finds the topics there.
 */
export function ensureTopics(kafka: Kafka, config: Config, log: Logger): Promise<void> {
  return whenKafkaAnswers('provisioning the topics', log, () => provisionOnce(kafka, config, log));
}

async function provisionOnce(kafka: Kafka, config: Config, log: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const report = await provisionTopics(admin, {
      names: kafkaNames(config.kafka.topicPrefix),
      replicationFactor: config.kafka.replicationFactor,
      minInsyncReplicas: config.kafka.minInsyncReplicas,
    });
    log.info({ created: report.created }, 'topics provisioned');
    for (const drift of report.configDrift) log.warn(drift, 'topic setting differs from the spec; left as it is (set it with kafka-configs --alter)');
    for (const mismatch of report.partitionMismatch) log.warn(mismatch, 'topic has another partition count than the spec; left as it is');
  } finally {
    await admin.disconnect();
  }
}
