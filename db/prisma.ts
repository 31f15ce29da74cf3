import { PrismaPg } from '@prisma/adapter-pg';
import { type Prisma, PrismaClient } from '../generated/prisma/client.js';

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

/** A Prisma client over node-postgres (no engine binary) for one database. */
export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const timeouts = options.abandonAfterMs
    ? { statement_timeout: options.abandonAfterMs, idle_in_transaction_session_timeout: options.abandonAfterMs }
    : {};
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: options.poolSize ?? 10, ...timeouts }) });
}

/**
 * Runs `work` in a transaction: a new one on a client, or the caller's when given a transaction,
 * so a domain function can also be one step of a larger unit of work.
 */
export function inTransaction<T>(db: Db, work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  if ('$transaction' in db) {
    // Many concurrent callers may queue for a pooled connection: wait for one rather than fail.
    return db.$transaction(work, { maxWait: 30_000, timeout: 30_000 });
  }
  return work(db);
}
