import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type Client } from '@temporalio/client';
import { type LedgerProvider } from './ledger-provider.js';

/** What the system holds at one moment: every table, the sagas started, the provider's charges. */
export interface Snapshot {
  /** Per table: its row count and the newest transaction that wrote one of its rows (an update moves it). */
  tables: Record<string, { rows: number; digest: string }>;
  /** Sagas (workflows) ever started on the system's task queue, when counted. */
  sagas?: number;
  /** The provider's charges and their states, `id:status`, sorted. */
  charges: string[];
  /** Orders by status. */
  orderStatuses: Record<string, number>;
}

/** Whether a saga is moving an order on right now (pending, inventory_reserved). */
function ordersInMotion(snapshot: Snapshot): boolean {
  return Boolean(snapshot.orderStatuses.pending || snapshot.orderStatuses.inventory_reserved);
}

/** What moved between two snapshots, by name (`orders`, `sagas`, `charges`): empty when nothing did. */
export function movedBetween(before: Snapshot, after: Snapshot): Record<string, string> {
  const moved: Record<string, string> = {};
  for (const table of new Set([...Object.keys(before.tables), ...Object.keys(after.tables)])) {
    const [b, a] = [before.tables[table], after.tables[table]];
    if (b?.digest !== a?.digest || b?.rows !== a?.rows) moved[table] = b?.rows === a?.rows ? `${a?.rows} rows, one written` : `${b?.rows} -> ${a?.rows} rows`;
  }
  if (moved.orders) moved.orders += `, by status ${JSON.stringify(before.orderStatuses)} -> ${JSON.stringify(after.orderStatuses)}`;
  if (before.sagas !== undefined && after.sagas !== undefined && before.sagas !== after.sagas) moved.sagas = `${before.sagas} -> ${after.sagas} started`;
  if (before.charges.join() !== after.charges.join()) moved.charges = `${before.charges.length} -> ${after.charges.length} (${after.charges.filter((c) => !before.charges.includes(c)).join(' ')})`;
  return moved;
}

/**
 * Takes snapshots of the fuzzed system: its own database (every table but the migrations'), the
 * sagas Temporal started on its task queue, and the payment provider's charges.
 */
export class WriteWatch {
  private constructor(
    private readonly db: pg.Client,
    private readonly query: string,
    private readonly temporal: Client,
    private readonly taskQueue: string,
    private readonly provider: LedgerProvider,
  ) {}

  static async open(options: { databaseUrl: string; temporal: Client; taskQueue: string; provider: LedgerProvider }): Promise<WriteWatch> {
    const db = new pg.Client({ connectionString: options.databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY 1`,
    );
    const perTable = rows.map(
      ({ name }) =>
        // Every insert and update makes a row version with a newer transaction id (xmin); a delete lowers the count.
        `SELECT ${db.escapeLiteral(name)} AS name, count(*)::int AS rows, coalesce(max(xmin::text::bigint), 0)::text AS digest FROM ${db.escapeIdentifier(name)}`,
    );
    // One statement, so that the tables and the orders' statuses are read at one moment.
    const statuses = `SELECT 'orders:' || status, count(*)::int, '' FROM orders GROUP BY status`;
    return new WriteWatch(db, [...perTable, statuses].join(' UNION ALL '), options.temporal, options.taskQueue, options.provider);
  }

  /** Snapshots taken, and the time they took: what watching cost the run. */
  readonly cost = { snapshots: 0, ms: 0 };

  /** Counting the sagas asks Temporal, which is slow: `sagas` only for requests that may reach one. */
  async snapshot(options: { sagas?: boolean } = {}): Promise<Snapshot> {
    const started = Date.now();
    const [rows, sagas] = await Promise.all([
      this.db.query<{ name: string; rows: number; digest: string }>(this.query),
      options.sagas ? this.temporal.workflow.count(`TaskQueue = "${this.taskQueue}"`) : undefined,
    ]);
    this.cost.snapshots += 1;
    this.cost.ms += Date.now() - started;
    const tables = rows.rows.filter((r) => !r.name.startsWith('orders:'));
    const statuses = rows.rows.filter((r) => r.name.startsWith('orders:'));
    return {
      tables: Object.fromEntries(tables.map((t) => [t.name, { rows: t.rows, digest: t.digest }])),
      sagas: sagas?.count,
      charges: this.provider.chargeStates(),
      orderStatuses: Object.fromEntries(statuses.map((r) => [r.name.slice('orders:'.length), r.rows])),
    };
  }

  /**
   * A snapshot once the sagas came to rest: no order in motion, and nothing moved for `quietMs`.
   * Sagas waiting for a customer (3-D Secure) are at rest. Throws when they do not rest in time.
   */
  async settled(options: { quietMs?: number; sagas?: boolean } = {}): Promise<Snapshot> {
    const { quietMs = 25, sagas } = options;
    const deadline = Date.now() + 60_000;
    let last = await this.snapshot({ sagas });
    for (;;) {
      await sleep(quietMs);
      const next = await this.snapshot({ sagas });
      if (!ordersInMotion(next) && Object.keys(movedBetween(last, next)).length === 0) return next;
      if (Date.now() > deadline) throw new Error(`the sagas did not come to rest within a minute: ${JSON.stringify(movedBetween(last, next))}`);
      last = next;
    }
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
