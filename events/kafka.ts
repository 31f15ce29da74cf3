import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type LogEntry,
  type PartitionMetadata,
  type Producer,
  type ProducerBatch,
  type ProducerRecord,
  type RecordMetadata,
  type TopicMessages,
} from 'kafkajs';
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
 *
 * A send also fails when kafkajs answers for fewer partitions than its keyed messages go to. When
 * a broker fails mid-send, kafkajs (2.2.4, sendMessages.js) sends again only to the brokers that
 * have not answered yet: a partition whose leadership moved to a broker that had answered is never
 * sent, and the send resolves. The relay then takes the rows for published; the chaos test saw
 * orders confirmed whose `order.confirmed` never reached Kafka. Sent again, the partitions written
 * the first time get copies, which the subscribers' inbox drops.
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

  const partitions = partitionCounter(kafka);
  const sendAll = async (batch: TopicMessages[], send: () => Promise<RecordMetadata[]>) => {
    const answered = await send();
    const missing = await partitions.unanswered(batch, answered);
    if (missing.length) throw new Error(`Kafka answered for none of the messages to ${missing.join(', ')}: they were not sent`);
    return answered;
  };

  return {
    connect: () => using(async () => undefined),
    send: (record) => using((producer) => sendAll([record], () => producer.send(record))),
    sendBatch: (batch) => using((producer) => sendAll(batch.topicMessages ?? [], () => producer.sendBatch(batch))),
    disconnect: async () => {
      connected = undefined;
      await Promise.all([current.disconnect(), partitions.close()]);
    },
  };
}

/**
 * Which partitions a send's keyed messages go to, as the producer's partitioner (Java's) puts them,
 * from each topic's partition count (read once, and again when an answer does not match it).
 */
function partitionCounter(kafka: Kafka) {
  const partitioner = Partitioners.DefaultPartitioner();
  const counts = new Map<string, number>();
  let admin: Admin | undefined;
  let connected: Promise<void> | undefined;

  const count = async (topics: string[]) => {
    admin ??= kafka.admin();
    await (connected ??= admin.connect());
    for (const { name, partitions } of (await admin.fetchTopicMetadata({ topics })).topics) counts.set(name, partitions.length);
  };

  const expected = (batch: TopicMessages[]) => {
    const wanted = new Set<string>();
    for (const { topic, messages } of batch) {
      const partitionMetadata = Array.from({ length: counts.get(topic)! }, (_, partitionId): PartitionMetadata => ({ partitionId, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
      for (const message of messages) {
        // A message without a key or partition may go to any partition.
        if (message.key == null && message.partition == null) continue;
        wanted.add(`${topic}/${partitioner({ topic, partitionMetadata, message })}`);
      }
    }
    return wanted;
  };

  return {
    /** The partitions the batch's keyed messages go to that the answer leaves out. */
    async unanswered(batch: TopicMessages[], answered: RecordMetadata[]): Promise<string[]> {
      const got = new Set(answered.map((r) => `${r.topicName}/${r.partition}`));
      const topics = [...new Set(batch.map((t) => t.topic))];
      const unknown = topics.filter((t) => !counts.has(t));
      if (unknown.length) await count(unknown);
      let missing = [...expected(batch)].filter((p) => !got.has(p));
      if (missing.length) {
        // Partitions added since the count was read would move keys: count again before concluding.
        await count(topics);
        missing = [...expected(batch)].filter((p) => !got.has(p));
      }
      return missing;
    },
    async close() {
      if (connected) await admin!.disconnect().catch(() => undefined);
    },
  };
}
