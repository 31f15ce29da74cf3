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
import { createScratchDatabase, freePort, testConfig, uniqueName } from './support/env.js';


type Labels = Record<string, string>;

/** One scrape: each sample by metric name, with its labels. */
function parseMetrics(text: string): Map<string, { labels: Labels; value: number }[]> {
  const samples = new Map<string, { labels: Labels; value: number }[]>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels: Labels = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    const list = samples.get(match[1]!) ?? [];
    list.push({ labels, value: Number(match[3]) });
    samples.set(match[1]!, list);
  }
  return samples;
}

/** The sum of a metric's samples whose labels include `labels`; undefined when the metric has no such sample. */
function valueOf(scrape: ReturnType<typeof parseMetrics>, name: string, labels: Labels = {}): number | undefined {
  const matching = (scrape.get(name) ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return matching.length ? matching.reduce((sum, s) => sum + s.value, 0) : undefined;
}

/**
 * The application as `npm start` runs it, each process serving /metrics on a port of this run's,
 * and what those endpoints say before and after one confirmed and one declined order.
 */
describe('the metrics of the running application', () => {
  let app: RunningApplication | undefined;
  let database: { url: string; drop(): Promise<void> };
  let config: Config;
  const endpoints: Record<'api' | 'worker' | 'relay' | 'subscribers', string> = { api: '', worker: '', relay: '', subscribers: '' };
  const scrape = async (process: keyof typeof endpoints) => parseMetrics(await (await fetch(endpoints[process])).text());
  let before: Record<keyof typeof endpoints, ReturnType<typeof parseMetrics>>;
  let after: typeof before;

  beforeAll(async () => {
    const runId = uniqueName('metrics').replaceAll('-', '_');
    database = await createScratchDatabase();
    const ports = { api: await freePort(), worker: await freePort(), relay: await freePort(), subscribers: await freePort() };
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      KAFKA_TOPIC_PREFIX: `${runId}.`,
      TEMPORAL_TASK_QUEUE: runId,
      API_PORT: String(await freePort()),
      PAYMENT_PROVIDER_URL: `http://127.0.0.1:${await freePort()}`,
      MAIL_DIR: path.join(os.tmpdir(), `${runId}-mail`),
      API_METRICS_PORT: String(ports.api),
      WORKER_METRICS_PORT: String(ports.worker),
      WORKER_TEMPORAL_METRICS_PORT: String(await freePort()),
      RELAY_METRICS_PORT: String(ports.relay),
      SUBSCRIBERS_METRICS_PORT: String(ports.subscribers),
    };
    config = loadConfig({ ...process.env, ...env });
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) endpoints[name] = `http://127.0.0.1:${ports[name]}/metrics`;
    await prepareApplication(config, () => undefined);
    app = await launchApplication({ env, output: (line) => process.env.METRICS_TEST_DEBUG && console.log(line) });

    before = { api: await scrape('api'), worker: await scrape('worker'), relay: await scrape('relay'), subscribers: await scrape('subscribers') };
    const orders = [await placeOrder(config, 'tok_visa'), await placeOrder(config, 'tok_chargeDeclined')];
    const connection = await Connection.connect({ address: testConfig().temporal.address });
    try {
      const temporal = new Client({ connection, namespace: config.temporal.namespace });
      for (const id of orders) await temporal.workflow.getHandle(orderWorkflowId(id)).result();
    } finally {
      await connection.close();
    }
    // The last events of both orders: their notification.sent, once analytics has had them.
    const lastEventsSeen = async () =>
      valueOf(await scrape('subscribers'), 'consumer_messages_total', { consumer_group: 'analytics-service-group', topic: 'notification-events' }) ?? 0;
    for (const deadline = Date.now() + 30_000; (await lastEventsSeen()) < 2 && Date.now() < deadline; ) await sleep(250);
    after = { api: await scrape('api'), worker: await scrape('worker'), relay: await scrape('relay'), subscribers: await scrape('subscribers') };
    if (process.env.METRICS_TEST_DEBUG) for (const name of Object.keys(endpoints)) console.log(await (await fetch(endpoints[name as keyof typeof endpoints])).text());
  }, 180_000);

  afterAll(async () => {
    await app?.stop();
    await database?.drop();
  });

  const moved = (process: keyof typeof endpoints, name: string, labels: Labels = {}) =>
    (valueOf(after[process], name, labels) ?? 0) - (valueOf(before[process], name, labels) ?? 0);

  it('the API counts and times its requests by route and status', () => {
    const placed = { http_route: '/api/v1/orders', http_request_method: 'POST', http_response_status_code: '202' };
    expect(moved('api', 'http_server_request_duration_count', placed)).toBe(2);
    expect(moved('api', 'http_server_request_duration_bucket', { ...placed, le: '+Inf' })).toBe(2);
    expect(moved('api', 'http_server_request_duration_sum', placed)).toBeGreaterThan(0);
    expect(after.api.get('http_server_request_duration_count')!.every((s) => s.labels.service_name === 'order-api')).toBe(true);
  });

  it('the worker counts sagas by outcome, their duration and the compensations, with the Temporal SDK’s own series', () => {
    expect(moved('worker', 'saga_started_total')).toBe(2);
    expect(moved('worker', 'saga_ended_total', { outcome: 'confirmed' })).toBe(1);
    expect(moved('worker', 'saga_ended_total', { outcome: 'failed', reason: 'payment_declined' })).toBe(1);
    expect(moved('worker', 'saga_duration_count')).toBe(2);
    expect(moved('worker', 'saga_duration_sum')).toBeGreaterThan(0);
    expect(moved('worker', 'saga_compensations_total', { compensation: 'releaseReservation', outcome: 'completed' })).toBe(1);
    // The provider's calls, through the undici instrumentation: the charges of both orders at least.
    const providerCalls = { otel_scope_name: '@opentelemetry/instrumentation-undici', http_request_method: 'POST' };
    expect(moved('worker', 'http_client_request_duration_count', providerCalls)).toBeGreaterThanOrEqual(2);
    // Reading the Temporal SDK's endpoint is no outgoing call of the application's.
    expect(valueOf(after.worker, 'http_client_request_duration_count', { http_request_method: 'GET' })).toBeUndefined();
    expect(moved('worker', 'temporal_workflow_task_schedule_to_start_latency_seconds_count')).toBeGreaterThan(0);
    expect(moved('worker', 'temporal_activity_schedule_to_start_latency_seconds_count')).toBeGreaterThan(0);
    expect(valueOf(after.worker, 'temporal_worker_task_slots_available', { worker_type: 'ActivityWorker' })).toBeGreaterThan(0);
    expect(valueOf(after.worker, 'temporal_sticky_cache_size')).toBeGreaterThanOrEqual(0);
  });

  it('the relay counts what it published by topic and type, its batches, and reports its lag', () => {
    expect(moved('relay', 'outbox_published_total', { topic: 'order-events', event_type: 'order.created' })).toBe(2);
    expect(moved('relay', 'outbox_published_total', { topic: 'order-events', event_type: 'order.failed' })).toBe(1);
    expect(moved('relay', 'outbox_batch_size_count')).toBeGreaterThan(0);
    expect(valueOf(after.relay, 'outbox_lag_events')).toBeGreaterThanOrEqual(0);
    expect(valueOf(after.relay, 'outbox_lag_oldest_age')).toBeGreaterThanOrEqual(0);
  });

  it('the subscribers count messages by group, topic and outcome, and each group’s lag', () => {
    expect(moved('subscribers', 'consumer_messages_total', { consumer_group: 'notification-service-group', topic: 'order-events', outcome: 'handled' })).toBe(2);
    expect(moved('subscribers', 'consumer_messages_total', { consumer_group: 'notification-service-group', topic: 'order-events', outcome: 'ignored' })).toBe(2);
    expect(moved('subscribers', 'consumer_messages_total', { consumer_group: 'search-service-group', topic: 'inventory-events' })).toBeGreaterThan(0);
    expect(valueOf(after.subscribers, 'consumer_messages_total', { outcome: 'dead_lettered' })).toBeUndefined();
    for (const group of ['notification-service-group', 'search-service-group', 'analytics-service-group']) {
      expect(valueOf(after.subscribers, 'consumer_lag', { consumer_group: group })).toBeGreaterThanOrEqual(0);
    }
  });
});

/** Places an order of one seeded variant, paid with `token`; returns its id. */
async function placeOrder(config: Config, token: string): Promise<string> {
  const client = new pg.Client({ connectionString: config.postgres.url });
  await client.connect();
  try {
    const variant = (await client.query<{ product_id: string; id: string }>('SELECT product_id::text, id::text FROM product_variants WHERE active ORDER BY sku LIMIT 1')).rows[0]!;
    await client.query('UPDATE stock SET on_hand = 1000, reserved = 0 WHERE variant_id = $1', [variant.id]);
    const response = await fetch(`${config.api.url}/api/v1/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await signDevToken(config.jwt, `metrics-${randomUUID()}`)}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({
        items: [{ product_id: variant.product_id, variant_id: variant.id, quantity: 1 }],
        shipping_address: { address_line1: '1 Main St', city: 'San Francisco', state: 'CA', postal_code: '94105', country: 'US' },
        payment: { method: 'card', token },
      }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { order_id: string }).order_id;
  } finally {
    await client.end();
  }
}
