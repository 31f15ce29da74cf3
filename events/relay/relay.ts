import { setTimeout as sleep } from 'node:timers/promises';
import {
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
} from '@opentelemetry/api';
import { type IHeaders, type Message, type TopicMessages } from 'kafkajs';
import pg from 'pg';
import { inSqlTransaction, sqlOf, type Db } from '../../db/prisma.js';
import { type Sql } from '../../db/sql.js';
import { type PrismaClient } from '../../generated/prisma/client.js';
import { type Logger } from '../../runtime/log.js';
import { type Topic } from '../../domain/events/topics.js';
import { type IdempotentProducer } from '../kafka.js';
import { type KafkaNames } from '../kafka-names.js';
import { relayMetrics } from './metrics.js';

/** The channel the outbox trigger NOTIFYs on (prisma/migrations/…_outbox_notify). */
export const OUTBOX_CHANNEL = 'outbox_inserted';

const tracer = trace.getTracer('order-saga-relay');

interface OutboxRow {
  id: bigint;
  event_id: string;
  aggregate_id: string;
  event_type: string;
  topic: string;
  payload: { event_version?: unknown };
  headers: Record<string, unknown>;
}

export interface OutboxLag {
  /** Rows waiting to be published (not counting parked rows and those held behind them). */
  unpublished: number;
  /** How long the oldest of them has waited; 0 when there is none. */
  oldestAgeMs: number;
  /** Rows the broker refused for good, left for an operator. */
  parked: number;
  /** Rows waiting behind a parked row of their aggregate, so its events keep their order. */
  held: number;
}

/** How far behind the relay is: what the outbox holds that Kafka does not have yet. */
export async function outboxLag(db: Db): Promise<OutboxLag> {
  const [row] = await sqlOf(db).$queryRaw<[{ unpublished: bigint; parked: bigint; held: bigint; oldest_age_ms: number | null }]>`
    WITH pending AS (
      SELECT created_at, parked_at IS NOT NULL AS parked,
             parked_at IS NULL AND aggregate_id IN (
               SELECT aggregate_id FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL) AS held
      FROM outbox WHERE published_at IS NULL)
    SELECT count(*) FILTER (WHERE NOT parked AND NOT held) AS unpublished,
           count(*) FILTER (WHERE parked) AS parked,
           count(*) FILTER (WHERE held) AS held,
           (extract(epoch FROM clock_timestamp() - min(created_at) FILTER (WHERE NOT parked AND NOT held)) * 1000)::float8 AS oldest_age_ms
    FROM pending`;
  return {
    unpublished: Number(row.unpublished),
    oldestAgeMs: Math.max(0, Math.round(row.oldest_age_ms ?? 0)),
    parked: Number(row.parked),
    held: Number(row.held),
  };
}

/**
 * Broker errors that refuse a record itself, so sending it again can never succeed: it is larger
 * than the topic's message limit, or the broker finds it invalid.
 */
const refusalsForGood = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);

function refusedForGood(error: unknown): boolean {
  for (let e = error as { type?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.type === 'string' && refusalsForGood.has(e.type)) return true;
  }
  return false;
}

/** The Kafka headers of a row: every string header it was written with, and the event's identity. */
function headersOf(row: OutboxRow): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(row.headers)) if (typeof value === 'string') headers[name] = value;
  headers['event-id'] = row.event_id;
  headers['event-type'] = row.event_type;
  if (typeof row.payload.event_version === 'string') headers['event-version'] = row.payload.event_version;
  return headers;
}

export interface OutboxRelayOptions {
  prisma: PrismaClient;
  producer: IdempotentProducer;
  names: KafkaNames;
  log: Logger;
  /** Rows claimed, published and marked per transaction. */
  batchSize: number;
  /** How often it looks for rows when no notification wakes it. */
  pollIntervalMs: number;
  /** Where to LISTEN for the outbox trigger's notifications; without it the relay only polls. */
  listenUrl?: string;
}

/**
 * Publishes the outbox to Kafka (CONTRACT §1): at least once, and in order per aggregate even with
 * several relays running.
 *
 * Each batch is one transaction. It first claims aggregates: it locks the oldest unpublished row of
 * each (FOR UPDATE SKIP LOCKED), so an aggregate whose oldest row another relay holds is skipped
 * whole, never published from its second event on. Then it locks the claimed aggregates'
 * unpublished rows in id order, publishes them (key = aggregate id, so one order's events share a
 * partition and keep their order), and marks them published before committing, which releases
 * the claim. A relay that dies before the commit leaves its rows unpublished: they go out again,
 * in order, and the subscribers' inbox drops the copies.
 *
 * This relies on one aggregate's rows committing in id order, which the domain ensures: every
 * write about an order locks it (or its reservation, or its payments) first.
 */
export class OutboxRelay {
  private stopping = false;
  private woken = false;
  private wakeUp: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private readonly metrics = relayMetrics();

  constructor(private readonly options: OutboxRelayOptions) {}

  /**
   * Claims, publishes and marks one batch; returns how many rows it published or parked (0:
   * nothing to do). An aggregate whose oldest unpublished row is parked is not claimed.
   */
  async publishBatch(): Promise<number> {
    const { prisma, batchSize } = this.options;
    return inSqlTransaction(prisma, async (tx) => {
      const heads = await tx.$queryRaw<{ aggregate_id: string }[]>`
        SELECT o.aggregate_id FROM outbox o
        WHERE o.published_at IS NULL AND o.parked_at IS NULL
          AND o.id IN (SELECT DISTINCT ON (aggregate_id) id FROM outbox
                       WHERE published_at IS NULL ORDER BY aggregate_id, id)
        ORDER BY o.id
        LIMIT ${batchSize}
        FOR UPDATE OF o SKIP LOCKED`;
      if (!heads.length) return 0;
      // A fresh snapshot, taken after the claim: rows another relay published meanwhile are gone.
      const rows = await tx.$queryRaw<OutboxRow[]>`
        SELECT id, event_id::text, aggregate_id, event_type, topic, payload, headers FROM outbox
        WHERE published_at IS NULL AND aggregate_id = ANY(${heads.map((h) => h.aggregate_id)}::text[])
        ORDER BY id
        LIMIT ${batchSize}
        FOR UPDATE`;
      if (!rows.length) return 0;
      let outcome = { published: rows, parked: 0 };
      try {
        await this.publish(rows);
      } catch (error) {
        if (!refusedForGood(error)) throw error;
        outcome = await this.publishAroundRefused(tx, rows);
      }
      await tx.$executeRaw`
        UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(${outcome.published.map((r) => r.id.toString())}::bigint[])`;
      this.metrics.batch(outcome.published, outcome.parked);
      return outcome.published.length + outcome.parked;
    });
  }

  /**
   * After the broker refused a batch for a row it will never take: publishes the rows one at a
   * time, in id order, to find it, and parks it (with the rest of its aggregate in the batch held
   * behind it, unpublished) instead of failing every batch for every order.
   */
  private async publishAroundRefused(tx: Sql, rows: OutboxRow[]): Promise<{ published: OutboxRow[]; parked: number }> {
    const published: OutboxRow[] = [];
    const parked = new Set<string>();
    for (const row of rows) {
      if (parked.has(row.aggregate_id)) continue;
      try {
        await this.publish([row]);
        published.push(row);
      } catch (error) {
        if (!refusedForGood(error)) throw error;
        const reason = String((error as Error).message ?? error).slice(0, 2000);
        await tx.$executeRaw`UPDATE outbox SET parked_at = clock_timestamp(), park_reason = ${reason} WHERE id = ${row.id}`;
        parked.add(row.aggregate_id);
        this.options.log.error(
          { err: error, outboxId: row.id.toString(), eventId: row.event_id, eventType: row.event_type, aggregateId: row.aggregate_id, topic: row.topic },
          'outbox row parked: the broker refuses it for good; its aggregate’s later events wait behind it until an operator clears parked_at',
        );
      }
    }
    return { published, parked: parked.size };
  }

  /** Publishes until nothing is left to publish (for tests and for draining at shutdown); returns the rows published or parked. */
  async drain(): Promise<number> {
    let total = 0;
    for (let n = await this.publishBatch(); n > 0; n = await this.publishBatch()) total += n;
    return total;
  }

  private async publish(rows: OutboxRow[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    const spans: Span[] = [];
    for (const row of rows) {
      const topic = this.options.names.topic(row.topic as Topic);
      const headers: IHeaders = headersOf(row);
      const parent = propagation.extract(ROOT_CONTEXT, headers);
      const span = tracer.startSpan(
        `${topic} publish`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'publish',
            'messaging.destination.name': topic,
            'messaging.message.id': row.event_id,
            'messaging.kafka.message.key': row.aggregate_id,
          },
        },
        parent,
      );
      propagation.inject(trace.setSpan(parent, span), headers);
      spans.push(span);
      const messages = byTopic.get(topic) ?? [];
      messages.push({ key: row.aggregate_id, value: JSON.stringify(row.payload), headers });
      byTopic.set(topic, messages);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    try {
      // One request per partition leader, messages in id order within each partition.
      await this.options.producer.sendBatch({ topicMessages, acks: -1 });
    } catch (error) {
      for (const span of spans) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      }
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }

  /**
   * Runs until stop(): publishes while there is something to publish, then waits for a NOTIFY or
   * the poll interval. A failed batch is logged and tried again after the poll interval.
   */
  start(): void {
    if (this.running) throw new Error('the relay is already running');
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    await this.listen();
    const { log, pollIntervalMs, batchSize } = this.options;
    while (!this.stopping) {
      this.woken = false;
      try {
        const rows = await this.publishBatch();
        if (rows > 0) log.debug({ rows }, 'published outbox rows');
        // A full batch may have left rows behind. A partial one claimed every aggregate it could,
        // and a row committed since has NOTIFYed (woken): asking again would find nothing, unless
        // no LISTEN connection tells of new rows.
        if (rows >= batchSize || (rows > 0 && !this.listener)) continue;
      } catch (error) {
        log.error({ err: error }, 'publishing the outbox failed; retrying');
      }
      await this.idle(pollIntervalMs);
    }
  }

  private async idle(ms: number): Promise<void> {
    if (this.woken || this.stopping) return;
    const waking = new AbortController();
    this.wakeUp = () => waking.abort();
    await sleep(ms, undefined, { signal: waking.signal }).catch(() => undefined);
    this.wakeUp = undefined;
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** LISTENs on the outbox channel; when the connection drops, connects again after the poll interval. */
  private async listen(): Promise<void> {
    const { listenUrl, log, pollIntervalMs } = this.options;
    if (!listenUrl || this.stopping) return;
    const client = new pg.Client({ connectionString: listenUrl });
    client.on('notification', () => this.wake());
    client.on('error', (error) => {
      log.warn({ err: error }, 'lost the LISTEN connection; polling until it is back');
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
      setTimeout(() => void this.listen(), pollIntervalMs).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      if (this.stopping) {
        await client.end();
        return;
      }
      this.listener = client;
      // Rows may have committed while nobody listened.
      this.wake();
    } catch (error) {
      log.warn({ err: error }, 'cannot LISTEN for outbox rows; polling until it can');
      await client.end().catch(() => undefined);
      if (!this.stopping) setTimeout(() => void this.listen(), pollIntervalMs).unref();
    }
  }

  /** Finishes the batch in flight, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.running;
    this.running = undefined;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end();
  }

  /** Reports the lag as OpenTelemetry gauges (no-ops until a metrics SDK is registered). */
  observeLag(): void {
    const meter = metrics.getMeter('order-saga-relay');
    const count = meter.createObservableGauge('outbox.lag.events', { description: 'Outbox rows waiting to be published' });
    const age = meter.createObservableGauge('outbox.lag.oldest_age', { unit: 'ms', description: 'Age of the oldest outbox row waiting to be published' });
    const parked = meter.createObservableGauge('outbox.parked.events', { description: 'Outbox rows the broker refused for good, left for an operator' });
    const held = meter.createObservableGauge('outbox.held.events', { description: 'Outbox rows waiting behind a parked row of their aggregate' });
    meter.addBatchObservableCallback(
      async (result) => {
        const lag = await outboxLag(this.options.prisma);
        result.observe(count, lag.unpublished);
        result.observe(age, lag.oldestAgeMs);
        result.observe(parked, lag.parked);
        result.observe(held, lag.held);
      },
      [count, age, parked, held],
    );
  }
}
