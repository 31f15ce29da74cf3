import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { type Config } from '../config/index.js';

/** A Kafka client for one of the system's processes (`role` tells them apart in the broker's logs). */
export function createKafka(config: Config, role: string): Kafka {
  return new Kafka({
    clientId: `${config.kafka.clientId}-${role}`,
    brokers: config.kafka.brokers,
    logLevel: logLevel.WARN,
  });
}

/**
 * A producer that writes each message once per send and in order: idempotent (the broker drops a
 * retried batch it already has), one request in flight, acknowledged by all in-sync replicas.
 * Keys are hashed as Java clients do, so every client puts an order's events on the same partition.
 */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}
