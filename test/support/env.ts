import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../config/index.js';
import { orderSagaInput, type SagaOrder } from '../../workflows/saga-start.js';
import type { OrderSagaInput } from '../../workflows/definitions.js';

/** The configuration tests run with: the local stack, and this run's own database. */
export function testConfig(): Config {
  const config = loadConfig({ ...process.env, NODE_ENV: 'test', DATABASE_URL: inject('databaseUrl') });
  return config;
}

/** A name no other run or test uses: for task queues, topics, workflow ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${inject('runId')}-${Math.random().toString(36).slice(2, 8)}`;
}

/** What the API hands OrderSaga for an order placed by a test, paid with the given test card token. */
export function sagaInputFor(order: SagaOrder, token: string): OrderSagaInput {
  return { ...orderSagaInput(order), payment: { method: 'card', token } };
}

/** Runs `work` with a client of the run's database, as the project's role (which may create databases). */
export async function withDatabaseClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testConfig().postgres.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
