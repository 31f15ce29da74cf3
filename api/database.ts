import pg from 'pg';
import { inSqlTransaction } from '../db/prisma.js';
import { type Sql } from '../db/sql.js';
import { Prisma, type PrismaClient } from '../generated/prisma/client.js';
import { AppError } from '../domain/errors.js';
import { IdempotencyKeyTakenError } from '../domain/idempotency.js';
import { type CircuitBreaker } from './circuit-breaker.js';

/**
 * Errors that are answers from a healthy database (a business refusal, a constraint, a missing row)
 * rather than signs that it is down; only the others count against the circuit breaker.
 */
export function isDatabaseAnswer(error: unknown): boolean {
  return (
    error instanceof AppError ||
    error instanceof IdempotencyKeyTakenError ||
    (error instanceof Prisma.PrismaClientKnownRequestError && error.code.startsWith('P2')) ||
    // PostgreSQL's own refusals of the data: a data exception (22) or a broken constraint (23).
    (error instanceof pg.DatabaseError && /^2[23]/.test(error.code ?? ''))
  );
}

/** PostgreSQL through its circuit breaker: use cases run inside `run`, and fail fast while it is down. */
export class Database {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly breaker: CircuitBreaker,
  ) {}

  run<T>(work: (db: PrismaClient) => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
    return this.breaker.run(() => work(this.prisma), options);
  }

  /**
   * Runs `work` in one transaction that does not outlive the caller's wait: once the breaker has
   * given up on it (the client was answered 503), it is rolled back however late its statements
   * finish, and Prisma closes it after the same time.
   */
  transaction<T>(work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    const timeoutMs = this.breaker.timeoutMs;
    return this.breaker.run((signal) =>
      this.prisma.$transaction(
        async (tx) => {
          const result = await work(tx);
          signal.throwIfAborted();
          return result;
        },
        { maxWait: timeoutMs, timeout: timeoutMs },
      ),
    );
  }

  /**
   * transaction() for work in plain SQL (the order write of POST /orders): a node-postgres
   * transaction instead of Prisma's interactive one. Once the breaker has given up on it, it rolls
   * back; the pool's statement and idle-in-transaction timeouts (the same time) end what hangs.
   */
  sqlTransaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.breaker.run((signal) =>
      inSqlTransaction(this.prisma, async (tx) => {
        const result = await work(tx);
        signal.throwIfAborted();
        return result;
      }),
    );
  }
}
