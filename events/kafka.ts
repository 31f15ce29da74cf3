import { Kafka, logLevel, Partitioners, type LogEntry, type Producer, type ProducerBatch, type ProducerRecord, type RecordMetadata } from 'kafkajs';
import { type Config } from '../config/index.js';
import { type Logger } from '../runtime/log.js';

/**
 * A Kafka client for one of the system's processes (`role` tells them apart in the broker's logs).
 * kafkajs logs through the process's logger, in its one JSON shape; its INFO (connections, group
 * joins) is debug chatter.
 */
export function createKafka(config: Config, role: string, log: Logger): Kafka {
  return new Kafka({
    clientId: `${config.kafka.clientId}-${role}`,
    brokers: config.kafka.brokers,
    logLevel: logLevel.INFO,
    logCreator: () => kafkaLogEntry(log),
  });
}

/**
 * kafkajs's entries through the process's logger. Its INFO chatter goes to debug. An error answer
 * from a broker (`Connection`, "Response …") goes to warn: kafkajs throws it to its caller, which
 * retries what is retriable (a coordinator still loading after a broker start) and reports the rest
 * through our own log; at error it made a normal cold start look like a fault.
 */
export function kafkaLogEntry(log: Logger): (entry: LogEntry) => void {
  return ({ level, namespace, log: entry }) => {
    // Its own time and logger name are the line's already.
    const fields: Record<string, unknown> = { ...entry };
    delete fields.message;
    delete fields.timestamp;
    delete fields.logger;
    const brokerAnswer = namespace === 'Connection' && entry.message.startsWith('Response ');
    const at = level === logLevel.ERROR && !brokerAnswer ? 'error' : level <= logLevel.WARN ? 'warn' : 'debug';
    log[at]({ kafkajs: namespace, ...fields }, entry.message);
  };
}

/** What the relay and the dead-letter path use of a producer. */
export interface IdempotentProducer {
  connect(): Promise<void>;
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}

/**
 * A producer that writes each message once per send and in order: idempotent (the broker drops a
 * retried batch it already has), one request in flight, acknowledged by all in-sync replicas.
 * Keys are hashed as Java clients do, so every client puts an order's events on the same partition.
 *
 * After a failed send it starts over with a new kafkajs producer, so a new producer id. kafkajs
 * (2.2.4) rolls a partition's sequence number back when a send fails, even when the broker wrote
 * the batch and only its answer was lost; the next batch would reuse those numbers, and the broker
 * would acknowledge it as a duplicate without writing it, or refuse it as out of order for good.
 */
export function createIdempotentProducer(kafka: Kafka): IdempotentProducer {
  const create = () =>
    kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  let current: Producer = create();
  let connected: Promise<void> | undefined;

  const renew = (failed: Producer) => {
    // A concurrent send may have failed on the same producer and renewed it already.
    if (current !== failed) return;
    current = create();
    connected = undefined;
    void failed.disconnect().catch(() => undefined);
  };

  const using = async <T>(send: (producer: Producer) => Promise<T>): Promise<T> => {
    const producer = current;
    try {
      await (connected ??= producer.connect());
      return await send(producer);
    } catch (error) {
      renew(producer);
      throw error;
    }
  };

  return {
    connect: () => using(async () => undefined),
    send: (record) => using((producer) => producer.send(record)),
    sendBatch: (batch) => using((producer) => producer.sendBatch(batch)),
    disconnect: async () => {
      connected = undefined;
      await current.disconnect();
    },
  };
}
