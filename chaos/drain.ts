import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

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
