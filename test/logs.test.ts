import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevToken } from '../api/auth.js';
import { loadConfig, type Config } from '../config/index.js';
import { launchApplication, prepareApplication, type RunningApplication } from '../scripts/application.js';
import { orderWorkflowId } from '../workflows/definitions.js';
import { freePort, testConfig, uniqueName, withDatabaseClient } from './support/env.js';


interface Line {
  process: string;
  raw: string;
  entry?: Record<string, unknown>;
}

interface PlacedOrder {
  id: string;
  status: string;
  traceId: string;
}

/**
 * The application as `npm start` runs it (every process, its own database, topics and task queue),
 * one confirmed and one declined order through the HTTP API, and then what the processes printed.
 */
describe('the logs of the running application', () => {
  const lines: Line[] = [];
  const orders: { confirmed?: PlacedOrder; declined?: PlacedOrder } = {};
  let app: RunningApplication | undefined;
  let database: string;

  beforeAll(async () => {
    const base = testConfig();
    const runId = uniqueName('logs').replaceAll('-', '_');
    database = `order_saga_${runId}`;
    await withDatabaseClient((client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`));
    const url = new URL(base.postgres.url);
    url.pathname = `/${database}`;
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: url.toString(),
      KAFKA_TOPIC_PREFIX: `${runId}.`,
      TEMPORAL_TASK_QUEUE: runId,
      API_PORT: String(await freePort()),
      PAYMENT_PROVIDER_URL: `http://127.0.0.1:${await freePort()}`,
      MAIL_DIR: path.join(os.tmpdir(), `${runId}-mail`),
    };
    const config = loadConfig({ ...process.env, ...env });
    await prepareApplication(config, () => undefined);
    app = await launchApplication({
      env,
      output: (line) => {
        const [name, ...rest] = line.split(' | ');
        const raw = rest.join(' | ');
        if (raw.trim() === '') return;
        let entry: Record<string, unknown> | undefined;
        try {
          entry = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          entry = undefined;
        }
        lines.push({ process: name!.trim(), raw, entry });
      },
    });
    orders.confirmed = await placeOrder(config, 'tok_visa');
    orders.declined = await placeOrder(config, 'tok_chargeDeclined');
    // The order's row settles before its saga's last steps (and their lines) are done.
    const connection = await Connection.connect({ address: config.temporal.address });
    try {
      const temporal = new Client({ connection, namespace: config.temporal.namespace });
      for (const order of [orders.confirmed, orders.declined]) await temporal.workflow.getHandle(orderWorkflowId(order.id)).result();
    } finally {
      await connection.close();
    }
    await app.stop();
    app = undefined;
  }, 90_000);

  afterAll(async () => {
    await app?.stop();
    await withDatabaseClient((client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`));
  });

  it('prints every line of every process as JSON with level, time, name and msg', () => {
    const processes = new Set(lines.map((line) => line.process));
    expect([...processes].sort()).toEqual(['api', 'payments', 'relay', 'subscribers', 'worker']);
    const malformed = lines.filter(({ entry }) => !entry || !['level', 'time', 'name', 'msg'].every((key) => key in entry));
    expect(malformed.map(({ process, raw }) => `${process}: ${raw}`)).toEqual([]);
  });

  it('logs no error on a normal start and two orders', () => {
    const errors = lines.filter(({ entry }) => entry && ['error', 'fatal', 50, 60].includes(entry.level as string | number));
    expect(errors.map(({ process, raw }) => `${process}: ${raw}`)).toEqual([]);
  });

  it('logs a declined card as one info line, without a stack', () => {
    const declined = orders.declined!;
    expect(declined.status).toBe('failed');
    const about = lines.filter(({ raw }) => raw.includes(declined.id));
    const refusals = about.filter(({ entry }) => entry?.level === 'info' && /refus|declin/i.test(String(entry.msg)));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.entry!.trace_id).toBe(declined.traceId);
    expect(about.filter(({ raw }) => /\n\s+at |\\n\s+at /.test(raw)).map(({ raw }) => raw)).toEqual([]);
  });

  it('tags the lines logged while handling an order with its trace id', () => {
    for (const order of [orders.confirmed!, orders.declined!]) {
      const traced = lines.filter(({ entry }) => entry?.trace_id === order.traceId);
      // The API's line about the request that placed it (the worker's refusal line is checked above).
      expect(traced.some(({ process, entry }) => process === 'api' && entry!.msg === 'request completed')).toBe(true);
      expect(traced.every(({ entry }) => typeof entry!.span_id === 'string')).toBe(true);
      const aboutIt = lines.filter(({ raw, entry }) => raw.includes(order.id) && entry?.trace_id !== undefined);
      expect(aboutIt.map(({ entry }) => entry!.trace_id)).toEqual(aboutIt.map(() => order.traceId));
    }
    expect(orders.confirmed!.status).toBe('confirmed');
  });
});

/** Places an order of one seeded variant, paid with `token`, and waits until it is settled. */
async function placeOrder(config: Config, token: string): Promise<PlacedOrder> {
  const pool = new pg.Client({ connectionString: config.postgres.url });
  await pool.connect();
  try {
    const variant = (await pool.query<{ product_id: string; id: string }>('SELECT product_id::text, id::text FROM product_variants WHERE active ORDER BY sku LIMIT 1')).rows[0]!;
    await pool.query('UPDATE stock SET on_hand = 1000, reserved = 0 WHERE variant_id = $1', [variant.id]);
    const authorization = `Bearer ${await signDevToken(config.jwt, `logs-${randomUUID()}`)}`;
    const response = await fetch(`http://${config.api.host}:${config.api.port}/api/v1/orders`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({
        items: [{ product_id: variant.product_id, variant_id: variant.id, quantity: 1 }],
        shipping_address: { address_line1: '1 Main St', city: 'San Francisco', state: 'CA', postal_code: '94105', country: 'US' },
        payment: { method: 'card', token },
      }),
    });
    expect(response.status).toBe(202);
    const { order_id: id } = (await response.json()) as { order_id: string };
    for (;;) {
      const row = (await pool.query<{ status: string; trace_id: string }>('SELECT status::text, trace_id FROM orders WHERE id = $1', [id])).rows[0];
      if (row && ['confirmed', 'failed', 'cancelled'].includes(row.status)) return { id, status: row.status, traceId: row.trace_id };
      await sleep(200);
    }
  } finally {
    await pool.end();
  }
}
