import { setTimeout as sleep } from 'node:timers/promises';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import { type Consumer, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';
import { inSqlTransaction, sqlOf } from '../db/prisma.js';
import { type Sql } from '../db/sql.js';
import { type PrismaClient } from '../generated/prisma/client.js';
import { type Logger } from '../runtime/log.js';
import { isEventType, readEvent, type EventEnvelope, type EventType } from '../domain/events/schemas.js';
import { consumerGroups, type ConsumerGroup, type Topic } from '../domain/events/topics.js';
import { consumerMetrics } from './consumer-metrics.js';
import { type IdempotentProducer } from './kafka.js';
import { type KafkaNames } from './kafka-names.js';

const tracer = trace.getTracer('order-saga-subscribers');

/** Does a subscriber's work for one event, inside the transaction that records it in the inbox. */
export type EventHandler<T extends EventType> = (event: EventEnvelope<T>, tx: Sql) => Promise<void>;

export interface Subscriber {
  group: ConsumerGroup;
  /** The event types it acts on; the others on its topics are acknowledged and left alone. */
  handlers: { [T in EventType]?: EventHandler<T> };
}

export interface RetryPolicy {
  /** Attempts at one event, the first included, before it goes to the dead-letter topic. */
  maxAttempts: number;
  initialMs: number;
  maxMs: number;
}

/** The seed's retry policy ("Communication Best Practices"): 1 s doubling to at most 10 s, 3 attempts. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.initialMs * 2 ** (attempt - 1), policy.maxMs);
}

export interface ConsumerRunnerDeps {
  kafka: Kafka;
  prisma: PrismaClient;
  names: KafkaNames;
  /** Where dead letters go. */
  producer: IdempotentProducer;
  retry: RetryPolicy;
  log: Logger;
}

/** Headers put on a dead letter, beside the original message's own. */
export const deadLetterHeaders = {
  topic: 'dlq-original-topic',
  partition: 'dlq-original-partition',
  offset: 'dlq-original-offset',
  consumerGroup: 'dlq-consumer-group',
  error: 'dlq-error',
  attempts: 'dlq-attempts',
  failedAt: 'dlq-failed-at',
} as const;

const headerGetter: TextMapGetter<IHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  },
};

/** A message that no attempt can handle: not JSON, not an event, or not readable as its type. */
class UnreadableEventError extends Error {
  override name = 'UnreadableEventError';
}

function unreadable(error: unknown): UnreadableEventError {
  return new UnreadableEventError(`unreadable event: ${(error as Error).message}`, { cause: error });
}

/**
 * The event a subscriber handles in a message, or undefined when it handles none there. As a
 * tolerant reader it looks only at the type before deciding: a type it does not handle (perhaps one
 * a newer producer introduced) is left alone however it looks; one it handles is read leniently
 * (readEvent) and is unreadable only when the fields it needs are missing or wrong.
 */
function eventToHandle(message: KafkaMessage, subscriber: Subscriber): EventEnvelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message.value?.toString('utf8') ?? 'null');
  } catch (error) {
    throw unreadable(error);
  }
  const type = (value as { event_type?: unknown } | null)?.event_type;
  if (typeof type !== 'string') throw unreadable(new Error('no event_type'));
  if (!isEventType(type) || !subscriber.handlers[type]) return undefined;
  try {
    return readEvent(type, value);
  } catch (error) {
    throw unreadable(error);
  }
}

export interface RunningSubscriber {
  group: string;
  consumer: Consumer;
  /** Lets the message in hand finish (or give up its backoff, uncommitted), then leaves the group. */
  stop(): Promise<void>;
}

/**
 * Runs a subscriber in its consumer group (CONTRACT §1): each event of a type it handles is read,
 * then handled in one transaction with its inbox row (consumer group + event id), so a redelivered
 * event is skipped and the effect happens once; the other events are left alone. The offset is
 * committed only after the handling resolves. A failing event is retried with backoff; after the
 * last attempt, or at once when it cannot be read, it goes to `<topic>.dlq` with its original
 * coordinates and the error in headers, and the partition moves on. While the subscriber's own
 * database does not answer, nothing is dead-lettered: the event is held and retried until the
 * database is back. If even the dead-letter topic cannot be written, the handler throws and the
 * message is delivered again: nothing is dropped.
 */
export async function startSubscriber(deps: ConsumerRunnerDeps, subscriber: Subscriber): Promise<RunningSubscriber> {
  const { kafka, names, log } = deps;
  const groupId = names.group(subscriber.group);
  const counters = consumerMetrics(subscriber.group);
  const stopping = new AbortController();
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  // A new group starts at the beginning of the topics' retention, so no event published before it
  // first joined is missed; after that it resumes from its committed offsets.
  await consumer.subscribe({ topics: consumerGroups[subscriber.group].map((t) => names.topic(t)), fromBeginning: true });

  const handle = async (event: EventEnvelope): Promise<'handled' | 'duplicate'> => {
    const handler = subscriber.handlers[event.event_type] as EventHandler<EventType>;
    return inSqlTransaction(deps.prisma, async (tx) => {
      const recorded = await tx.$executeRaw`
        INSERT INTO inbox (consumer_group, event_id, event_type)
        VALUES (${groupId}, ${event.event_id}::uuid, ${event.event_type})
        ON CONFLICT DO NOTHING`;
      if (recorded === 0) return 'duplicate';
      await handler(event, tx);
      return 'handled';
    });
  };

  const databaseAnswers = () => sqlOf(deps.prisma).$queryRaw`SELECT 1`.then(
    () => true,
    () => false,
  );

  /**
   * Handles an event, retrying with backoff. Resolves when it is handled, or with the failure that
   * makes it a dead letter. Rejects, leaving the message uncommitted for whoever owns its partition
   * next, when the attempts must end for a reason that is not the event's: the subscriber stops (the
   * back-off is aborted), or the group rebalances or dropped this member (heartbeat() throws), after
   * which another member may already be handling the partition.
   */
  const handleWithRetries = async (
    event: EventEnvelope,
    heartbeat: () => Promise<void>,
    topic: Topic,
  ): Promise<{ error: unknown; attempts: number } | undefined> => {
    for (let attempts = 1; ; attempts += 1) {
      try {
        const outcome = await handle(event);
        counters.message(topic, outcome);
        if (outcome === 'duplicate') log.info({ group: groupId, eventId: event.event_id }, 'event already handled; skipped');
        return undefined;
      } catch (error) {
        if (attempts >= deps.retry.maxAttempts) {
          if (await databaseAnswers()) return { error, attempts };
          // Our own database is down: not the event's fault. Dead-lettering would skip its
          // effect for good, so the partition waits, and the attempts start over, until it is back.
          log.error({ err: error, group: groupId, eventId: event.event_id }, 'the database does not answer; holding the event');
          attempts = 0;
        } else {
          log.warn({ err: error, group: groupId, eventId: event.event_id, attempts }, 'handling an event failed; retrying');
        }
      }
      await sleep(backoffMs(deps.retry, Math.max(attempts, 1)), undefined, { signal: stopping.signal });
      await heartbeat();
    }
  };

  const deadLetter = async (
    span: Span,
    { topic, partition, message }: { topic: string; partition: number; message: KafkaMessage },
    { error, attempts }: { error: unknown; attempts: number },
  ) => {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    const canonical = names.topicOf(topic) as Topic;
    await deps.producer.send({
      topic: names.deadLetter(canonical),
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            [deadLetterHeaders.topic]: topic,
            [deadLetterHeaders.partition]: String(partition),
            [deadLetterHeaders.offset]: message.offset,
            [deadLetterHeaders.consumerGroup]: groupId,
            [deadLetterHeaders.error]: String((error as Error).message ?? error).slice(0, 2000),
            [deadLetterHeaders.attempts]: String(attempts),
            [deadLetterHeaders.failedAt]: new Date().toISOString(),
          },
        },
      ],
    });
    counters.message(canonical, 'dead_lettered');
    log.error({ err: error, group: groupId, topic, partition, offset: message.offset, attempts }, 'event sent to the dead-letter topic');
  };

  await consumer.run({
    eachMessage: async ({ topic, partition, message, heartbeat }) => {
      const canonical = names.topicOf(topic) as Topic;
      const parent = propagation.extract(ROOT_CONTEXT, message.headers ?? {}, headerGetter);
      const span = tracer.startSpan(
        `${topic} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'process',
            'messaging.destination.name': topic,
            'messaging.consumer.group.name': groupId,
            'messaging.destination.partition.id': String(partition),
            'messaging.kafka.offset': Number(message.offset),
          },
        },
        parent,
      );
      await context.with(trace.setSpan(parent, span), async () => {
        try {
          let event: EventEnvelope | undefined;
          try {
            event = eventToHandle(message, subscriber);
          } catch (error) {
            await deadLetter(span, { topic, partition, message }, { error, attempts: 0 });
            return;
          }
          if (!event) {
            counters.message(canonical, 'ignored');
            return;
          }
          span.setAttribute('messaging.message.id', event.event_id);
          const failure = await handleWithRetries(event, heartbeat, canonical);
          if (failure) await deadLetter(span, { topic, partition, message }, failure);
        } finally {
          span.end();
        }
      });
    },
  });

  return {
    group: groupId,
    consumer,
    async stop() {
      stopping.abort();
      await consumer.disconnect();
    },
  };
}
