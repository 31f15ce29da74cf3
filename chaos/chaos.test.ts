import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { signDevToken } from '../api/auth.js';
import { loadConfig, type Config } from '../config/index.js';
import { kafkaNames } from '../events/kafka-names.js';
import { launchApplication, prepareApplication, type RunningApplication } from '../scripts/application.js';
import { down, up } from '../stack/stack.js';
import { createScratchDatabase, freeKafkaPorts, freePort, uniqueName } from '../test/support/env.js';
import { waitUntilConsumed, waitUntilDrained } from './drain.js';
import { FaultInjector } from './faults.js';
import { checkInvariants, type InvariantResult } from './invariants.js';
import { Load } from './load.js';
import { namedDatabaseUrl, prebuiltWorkerEnv } from './workers.js';

// The chaos run in small (npm run chaos is the long one): the application's processes (one of
// each) on the shared PostgreSQL and Temporal and on a 3-node Kafka cluster of this file's own,
// because a broker can only go down where there are others to take over (a proxy in front of the
// shared single broker would not do: kafkajs reconnects to the addresses the cluster advertises).
// Under steady load: kill -9 of the worker while sagas are mid-way; then one broker down and,
// meanwhile, kill -9 of the relay with a batch in flight; then the invariants of issue 11.

/** A deterministic random sequence (mulberry32), so every run sends the same mix. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-test-'));
let config: Config;
let scratch: { url: string; drop(): Promise<void> };
let app: RunningApplication | undefined;
let pool: pg.Pool;
let temporal: Client;
let kafka: Kafka;
const random = seeded(11);
/** Each process's last output lines, printed when the test fails. */
const recentOutput = new Map<string, string[]>();

beforeAll(async () => {
  const kafkaPort = await freeKafkaPorts();
  scratch = await createScratchDatabase();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    STACK_STATE_DIR: stateDir,
    DATABASE_URL: scratch.url,
    KAFKA_NODES: '3',
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: String(kafkaPort + 1),
    KAFKA_TOPIC_PREFIX: `${uniqueName('chaos')}.`,
    TEMPORAL_TASK_QUEUE: uniqueName('chaos'),
    API_PORT: String(await freePort()),
    PAYMENT_PROVIDER_URL: `http://127.0.0.1:${await freePort()}`,
    API_RATE_LIMIT_USER_PER_MINUTE: '100000000',
    MAIL_DIR: path.join(stateDir, 'mail'),
  };
  config = loadConfig(env);
  const [workerEnv] = await Promise.all([
    prebuiltWorkerEnv(path.join(stateDir, 'workflow-bundle.js')),
    up(config, { only: ['kafka'] }).then(() => prepareApplication(config, () => undefined)),
  ]);
  pool = new pg.Pool({ connectionString: scratch.url, max: 3 });
  // A connection PostgreSQL drops (the postgres fault) is an error of the pool, not of this process.
  pool.on('error', () => undefined);
  await pool.query('UPDATE stock SET on_hand = 30, reserved = 0');
  app = await launchApplication({
    env,
    processEnv: (name) => ({ DATABASE_URL: namedDatabaseUrl(scratch.url, name), ...(name === 'worker' && workerEnv) }),
    output: (line) => {
      const name = line.slice(0, line.indexOf('|')).trim();
      const lines = recentOutput.get(name) ?? [];
      lines.push(line);
      if (lines.length > 150) lines.shift();
      recentOutput.set(name, lines);
    },
  });
  temporal = new Client({ connection: await Connection.connect({ address: config.temporal.address }), namespace: config.temporal.namespace });
  kafka = new Kafka({ clientId: 'chaos-test', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await pool?.end();
  await temporal?.connection.close();
  if (config) await down(config, ['kafka']);
  await scratch?.drop();
  fs.rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('chaos in small: a worker, a broker and a relay die under load', () => {
  it('loses nothing and charges nobody twice', async () => {
    onTestFailed(() => console.error(`each process's last lines:\n${[...recentOutput.values()].flat().join('\n')}`));
    const names = kafkaNames(config.kafka.topicPrefix);
    const admin = kafka.admin();
    await admin.connect();
    const poison = [{ id: uniqueName('poison'), topic: 'order-events' as const }];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: names.topic('order-events'), messages: [{ key: poison[0]!.id, value: '{"not an event', headers: { 'chaos-poison': poison[0]!.id } }] });
    await producer.disconnect();

    const initialStock = new Map((await pool.query<{ id: string; on_hand: number }>('SELECT id::text, on_hand FROM stock')).rows.map((r) => [r.id, r.on_hand]));
    const productIds = (await pool.query<{ id: string }>('SELECT id::text FROM products WHERE active ORDER BY slug LIMIT 8')).rows.map((r) => r.id);
    const authorizations = await Promise.all([1, 2, 3].map(async (i) => `Bearer ${await signDevToken(config.jwt, uniqueName(`customer-${i}`))}`));
    const load = new Load({ apiUrl: config.api.url, providerUrl: config.paymentProvider.url, authorizations, productIds, rate: 3, maxInFlight: 20, lateThreeDSecureMs: [500, 1500], random });
    const faults = new FaultInjector({ config, app: app!, databaseUrl: scratch.url, say: () => undefined, random, brokerDownMs: 5_000 });

    load.start();
    // The worker dies while sagas are between their steps.
    await expect
      .poll(() => pool.query(`SELECT count(*)::int AS n FROM orders WHERE status IN ('inventory_reserved', 'awaiting_payment')`).then((r) => r.rows[0].n as number), { timeout: 30_000, interval: 50 })
      .toBeGreaterThan(0);
    await faults.inject('worker');
    // The relay is killed while the broker is down: its batch in flight may go to the others.
    await Promise.all([faults.inject('broker'), sleep(500).then(() => faults.inject('relay'))]);
    await load.stop();
    const drained = (await waitUntilDrained(pool, 90_000, 2_000)) && (await waitUntilConsumed(admin, names, 60_000));
    const { rows: pending } = await pool.query(
      `SELECT o.id, o.status, o.payment_token, (SELECT count(*) FROM outbox x WHERE x.aggregate_id = o.id::text AND x.published_at IS NULL) AS unpublished
       FROM orders o WHERE o.status NOT IN ('confirmed', 'failed', 'cancelled')`,
    );
    const { rows: outbox } = await pool.query(`SELECT event_type, aggregate_id, parked_at FROM outbox WHERE published_at IS NULL`);
    expect({ drained, pending, outbox }).toEqual({ drained: true, pending: [], outbox: [] });

    const results = await checkInvariants({
      db: pool,
      providerUrl: config.paymentProvider.url,
      kafka,
      admin,
      names,
      temporal,
      taskQueue: config.temporal.taskQueue,
      initialStock,
      accepted: load.accepted.keys(),
      poison,
      stockSamples: { taken: 0, outOfBounds: [] },
    });
    await admin.disconnect();

    expect(faults.done.map((f) => f.kind).sort()).toEqual(['broker', 'relay', 'worker']);
    expect(load.counts.accepted).toBeGreaterThan(10);
    const violated = (r: InvariantResult) => r.violations.length > 0;
    expect(results.filter(violated)).toEqual([]);
    expect(results.filter((r) => r.checked === 0).map((r) => r.name)).toEqual([]);
  }, 180_000);
});
