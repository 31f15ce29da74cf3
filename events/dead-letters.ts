import { randomUUID } from 'node:crypto';
import { type Admin, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';
import { type Topic } from '../domain/events/topics.js';
import { deadLetterHeaders } from './consumer.js';
import { type IdempotentProducer } from './kafka.js';
import { type KafkaNames } from './kafka-names.js';

/** One message of a `<topic>.dlq`, with where it came from and why it is there. */
export interface DeadLetter {
  partition: number;
  offset: string;
  key: string | null;
  eventType?: string;
  eventId?: string;
  original: { topic: string; partition: number; offset: string };
  consumerGroup?: string;
  error?: string;
  attempts?: number;
  failedAt?: string;
  /** Republished to the original topic already by `replayDeadLetters`. */
  replayed: boolean;
}

export interface DeadLetterDeps {
  kafka: Kafka;
  names: KafkaNames;
  /** Where replay keeps how far it got in each dead-letter topic: its consumer offsets. */
  replayGroup: string;
}

const dlqHeaderNames = new Set<string>(Object.values(deadLetterHeaders));

function text(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

function describe(partition: number, message: KafkaMessage, replayedUpTo: Map<number, bigint>): DeadLetter {
  const h = message.headers;
  let eventId: string | undefined;
  try {
    eventId = (JSON.parse(message.value?.toString('utf8') ?? 'null') as { event_id?: string } | null)?.event_id;
  } catch {
    // An unreadable message is dead-lettered as it came; it has no event id to show.
  }
  const attempts = text(h, deadLetterHeaders.attempts);
  return {
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    eventType: text(h, 'event-type'),
    eventId,
    original: {
      topic: text(h, deadLetterHeaders.topic) ?? '?',
      partition: Number(text(h, deadLetterHeaders.partition)),
      offset: text(h, deadLetterHeaders.offset) ?? '?',
    },
    consumerGroup: text(h, deadLetterHeaders.consumerGroup),
    error: text(h, deadLetterHeaders.error),
    attempts: attempts === undefined ? undefined : Number(attempts),
    failedAt: text(h, deadLetterHeaders.failedAt),
    replayed: BigInt(message.offset) < (replayedUpTo.get(partition) ?? 0n),
  };
}

/** For each partition of `topic` with messages past `from`, the offset its last message ends at. */
async function unreadEnds(admin: Admin, topic: string, from: Map<number, bigint>): Promise<Map<number, bigint>> {
  const ends = new Map<number, bigint>();
  for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
    const start = from.get(partition) ?? BigInt(low);
    if (BigInt(high) > start && BigInt(high) > BigInt(low)) ends.set(partition, BigInt(high));
  }
  return ends;
}

async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((offsets?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, BigInt(p.offset)]));
}

/**
 * Reads `topic` in consumer group `groupId` from its committed offsets (or the beginning) up to the
 * ends it had when this started, handing each message to `each`, which may commit past it.
 */
async function readToEnd(
  kafka: Kafka,
  groupId: string,
  topic: string,
  ends: Map<number, bigint>,
  each: (partition: number, message: KafkaMessage, commit: () => Promise<void>) => Promise<void>,
): Promise<void> {
  if (ends.size === 0) return;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const remaining = new Set(ends.keys());
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = ends.get(partition);
            if (end === undefined || BigInt(message.offset) >= end) return;
            try {
              const next = String(BigInt(message.offset) + 1n);
              await each(partition, message, () => consumer.commitOffsets([{ topic, partition, offset: next }]));
            } catch (error) {
              reject(error as Error);
              throw error;
            }
            if (BigInt(message.offset) + 1n >= end) {
              remaining.delete(partition);
              if (remaining.size === 0) resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Every message in `<topic>.dlq`, oldest first per partition, each marked replayed or not. */
export async function listDeadLetters(deps: DeadLetterDeps, topic: Topic): Promise<DeadLetter[]> {
  const dlq = deps.names.deadLetter(topic);
  const admin = deps.kafka.admin();
  await admin.connect();
  // A group of its own for one reading, removed afterwards: listing moves no one's offsets.
  const groupId = `${deps.replayGroup}-list-${randomUUID()}`;
  try {
    const replayedUpTo = await committedOffsets(admin, deps.replayGroup, dlq);
    const letters: DeadLetter[] = [];
    await readToEnd(deps.kafka, groupId, dlq, await unreadEnds(admin, dlq, new Map()), async (partition, message) => {
      letters.push(describe(partition, message, replayedUpTo));
    });
    return letters.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * Republishes the dead letters of `<topic>.dlq` not replayed yet to the topic each came from, with
 * its key (so the same partition and order) and its own headers, and commits the dead-letter
 * topic's offset only once the broker has the republished message: a replay cut short resumes
 * where it stopped and may send the last one twice, which the subscribers' inbox makes harmless
 * (every group that handled an event skips it by its event id).
 */
export async function replayDeadLetters(deps: DeadLetterDeps & { producer: IdempotentProducer }, topic: Topic): Promise<DeadLetter[]> {
  const dlq = deps.names.deadLetter(topic);
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const committed = await committedOffsets(admin, deps.replayGroup, dlq);
    const replayed: DeadLetter[] = [];
    await readToEnd(deps.kafka, deps.replayGroup, dlq, await unreadEnds(admin, dlq, committed), async (partition, message, commit) => {
      const letter = describe(partition, message, committed);
      // A dead letter goes back only where it came from: its own topic, never another.
      if (letter.original.topic !== deps.names.topic(topic)) {
        throw new Error(`${dlq} ${partition}/${message.offset} names ${letter.original.topic} as its topic, not ${deps.names.topic(topic)}; left in place`);
      }
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).filter(([name]) => !dlqHeaderNames.has(name)));
      await deps.producer.send({
        topic: letter.original.topic,
        acks: -1,
        messages: [{ key: message.key, value: message.value, headers: { ...headers, 'dlq-replayed-from': `${dlq}/${partition}/${message.offset}` } }],
      });
      await commit();
      replayed.push({ ...letter, replayed: true });
    });
    return replayed;
  } finally {
    await admin.disconnect();
  }
}
