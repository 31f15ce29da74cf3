import { type Kafka } from 'kafkajs';
import { type Config } from '../config/index.js';
import { type Logger } from '../runtime/log.js';
import { provisionTopics } from './provision.js';
import { kafkaNames } from './kafka-names.js';

/** What the relay and subscriber processes do first: provision the topics, saying what changed. */
export async function ensureTopics(kafka: Kafka, config: Config, log: Logger): Promise<void> {
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
