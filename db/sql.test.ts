import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig, withDatabaseClient } from '../test/support/env.js';
import { createPool, sqlTransaction } from './sql.js';

const pool: pg.Pool = createPool({ connectionString: testConfig().postgres.url, max: 2 });
afterAll(() => pool.end());

describe('a node-postgres transaction whose connection the server ends', () => {
  // PostgreSQL restarting (or an operator's pg_terminate_backend) ends a connection in the middle of
  // a transaction. The step must fail and be retried, not take the process down with it: node-postgres
  // reports the lost connection as an 'error' event on the client, which nobody heard while it was
  // checked out of the pool, so the process's uncaughtException handler closed the relay.
  it('fails the transaction and leaves the process and the pool working', async () => {
    const inFlight = sqlTransaction(pool, async (tx) => {
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(4242)`;
      return tx.$queryRaw`SELECT pg_sleep(10)`;
    });
    const outcome = inFlight.then(
      () => 'committed',
      (error: Error) => error.message,
    );
    await withDatabaseClient(async (admin) => {
      for (let terminated = 0; terminated === 0; ) {
        const { rowCount } = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted`,
        );
        terminated = rowCount ?? 0;
        if (!terminated) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    expect(await outcome).toMatch(/terminat/i);
    // The next transaction gets a working connection.
    expect(await sqlTransaction(pool, (tx) => tx.$queryRaw<{ one: number }[]>`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
  });
});
