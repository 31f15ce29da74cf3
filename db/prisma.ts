import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { type Prisma, PrismaClient } from '../generated/prisma/client.js';
import { createPool, poolSql, sqlTransaction, type Sql } from './sql.js';

/** What domain functions take: the client itself, or the client of a transaction already open. */
export type Db = PrismaClient | Prisma.TransactionClient;

export interface PrismaOptions {
  poolSize?: number;
  /**
   * PostgreSQL cuts any statement that runs longer (`statement_timeout`), and ends any transaction
   * left idle longer (`idle_in_transaction_session_timeout`): for a caller that gives up after this
   * long, so that what it abandoned is rolled back rather than committed later.
   */
  abandonAfterMs?: number;
}

/** The pool each client runs on, and plain SQL over it: see inSqlTransaction. */
const pools = new WeakMap<PrismaClient, { pool: pg.Pool; sql: Sql }>();

/**
 * A Prisma client over node-postgres (no engine binary) for one database, on a pool of its own
 * that the hot paths share for plain SQL transactions (inSqlTransaction): one pool per process.
 */
export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const timeouts = options.abandonAfterMs
    ? { statement_timeout: options.abandonAfterMs, idle_in_transaction_session_timeout: options.abandonAfterMs }
    : {};
  const pool = createPool({ connectionString: databaseUrl, max: options.poolSize ?? 10, ...timeouts });
  const client = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(client, { pool, sql: poolSql(pool) });
  return client;
}

function poolOf(client: PrismaClient): { pool: pg.Pool; sql: Sql } {
  const pool = pools.get(client);
  if (!pool) throw new Error('this Prisma client was not made by createPrisma: it has no pool for plain SQL');
  return pool;
}

// A transaction's client has no $connect (though Prisma 7's has a $transaction).
const isClient = (db: Db | Sql): db is PrismaClient => '$connect' in db;

/**
 * Runs `work` in a transaction: a new one on a client, or the caller's when given a transaction,
 * so a domain function can also be one step of a larger unit of work.
 */
export function inTransaction<T>(db: Db, work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  if (isClient(db)) {
    // Many concurrent callers may queue for a pooled connection: wait for one rather than fail.
    return db.$transaction(work, { maxWait: 30_000, timeout: 30_000 });
  }
  return work(db);
}

/**
 * inTransaction for work written in raw SQL only (the saga's steps, the relay, the inbox): a new
 * node-postgres transaction on the client's pool, which costs a BEGIN and a COMMIT and none of
 * Prisma's interactive-transaction machinery; or the caller's transaction (Prisma's or ours).
 */
export function inSqlTransaction<T>(db: Db | Sql, work: (tx: Sql) => Promise<T>): Promise<T> {
  return isClient(db) ? sqlTransaction(poolOf(db).pool, work) : work(db);
}

/** Raw SQL outside a transaction: straight on the client's pool, or in the caller's transaction. */
export function sqlOf(db: Db | Sql): Sql {
  return isClient(db) ? poolOf(db).sql : db;
}
