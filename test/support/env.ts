import net from 'node:net';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../config/index.js';
import { applyMigrations } from '../../prisma/migrate.js';
import { portIsFree } from '../../stack/processes.js';
import { orderSagaInput, type SagaOrder } from '../../workflows/saga-start.js';
import type { OrderSagaInput } from '../../workflows/definitions.js';

/** The configuration tests run with: the local stack, and this run's own database. */
export function testConfig(): Config {
  const config = loadConfig({ ...process.env, NODE_ENV: 'test', DATABASE_URL: inject('databaseUrl') });
  return config;
}

/** A TCP port nothing listens on at the moment, for a server a test starts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The first of six ports in a row (three brokers, three controllers) that nothing uses, for a Kafka cluster of a test's own. */
export async function freeKafkaPorts(): Promise<number> {
  for (;;) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 10_000);
    const ports = Array.from({ length: 6 }, (_, i) => base + i);
    if ((await Promise.all(ports.map((p) => portIsFree('127.0.0.1', p)))).every(Boolean)) return base;
  }
}

/** A name no other run or test uses: for task queues, topics, workflow ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${inject('runId')}-${Math.random().toString(36).slice(2, 8)}`;
}

/** What the API hands OrderSaga for an order placed by a test, paid with the given test card token. */
export function sagaInputFor(order: SagaOrder, token: string): OrderSagaInput {
  return { ...orderSagaInput(order), payment: { method: 'card', token } };
}

/**
 * A database of the test's own, migrated, for a test that scans whole tables (and must not meet the
 * rows other test files left in the run's database). `drop` removes it.
 */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const url = new URL(testConfig().postgres.url);
  const name = `${url.pathname.slice(1)}_${Math.random().toString(36).slice(2, 8)}`;
  await withDatabaseClient((client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  url.pathname = `/${name}`;
  await applyMigrations(url.toString());
  return {
    url: url.toString(),
    drop: () => withDatabaseClient(async (client) => void (await client.query(`DROP DATABASE ${client.escapeIdentifier(name)} WITH (FORCE)`))),
  };
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
