import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { consumerGroups, type ConsumerGroup, type Topic } from '../domain/events/topics.js';
import type { KafkaNames } from '../events/kafka-names.js';

/**
 * Waits until the system is at rest: every order terminal, the outbox published, and the
 * subscribers with nothing new to process for `quietMs`. Returns false when `timeoutMs` passes first.
 */
export async function waitUntilDrained(db: pg.Pool, timeoutMs: number, quietMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = 0;
  let lastInbox = -1;
  while (Date.now() < deadline) {
    const { rows: [row] } = await db
      .query<{ pending: string; outbox: string; inbox: string }>(
        `SELECT (SELECT count(*) FROM orders WHERE status NOT IN ('confirmed', 'failed', 'cancelled'))::text AS pending,
                (SELECT count(*) FROM outbox WHERE published_at IS NULL)::text AS outbox,
                (SELECT count(*) FROM inbox)::text AS inbox`,
      )
      .catch(() => ({ rows: [undefined] }));
    const quiet = row !== undefined && Number(row.pending) === 0 && Number(row.outbox) === 0 && Number(row.inbox) === lastInbox;
    lastInbox = Number(row?.inbox ?? -1);
    quietSince = quiet ? quietSince || Date.now() : 0;
    if (quietSince && Date.now() - quietSince >= quietMs) return true;
    await sleep(500);
  }
  return false;
}

/**
 * Waits until every subscriber group has committed the end of every partition it reads: what was
 * published has been consumed. A quiet inbox alone is not that: after a broker comes back, a group
 * may sit in a rebalance or a reconnect backoff for longer than the quiet period.
 */
export async function waitUntilConsumed(admin: Admin, names: KafkaNames, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const behind = async (): Promise<number> => {
    let lag = 0;
    for (const [group, topics] of Object.entries(consumerGroups) as [ConsumerGroup, readonly Topic[]][]) {
      const committed = await admin.fetchOffsets({ groupId: names.group(group), topics: topics.map((t) => names.topic(t)) });
      for (const { topic, partitions } of committed) {
        const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
        for (const p of partitions) lag += Math.max(0, (ends.get(p.partition) ?? 0) - Math.max(0, Number(p.offset)));
      }
    }
    return lag;
  };
  while (Date.now() < deadline) {
    if ((await behind().catch(() => Infinity)) === 0) return true;
    await sleep(500);
  }
  return false;
}
