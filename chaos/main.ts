import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createDatabase } from '../db/databases.js';
import { signDevToken } from '../api/auth.js';
import { loadConfig, projectRoot, type Config } from '../config/index.js';
import { kafkaNames, type KafkaNames } from '../events/kafka-names.js';
import { launchApplication, prepareApplication, type RunningApplication } from '../scripts/application.js';
import { down, stackDirs, up } from '../stack/stack.js';
import { startBalancer } from './balancer.js';
import { faultKinds, FaultInjector, type FaultKind } from './faults.js';
import { checkInvariants, type InvariantInputs } from './invariants.js';
import { Load } from './load.js';
import { waitUntilConsumed, waitUntilDrained } from './drain.js';
import { writeReport, type ChaosReport } from './report.js';
import { namedDatabaseUrl, prebuiltWorkerEnv } from './workers.js';

/**
 * `npm run chaos`: the scaled-out topology (3 Kafka nodes, two APIs behind a balancer, two
 * workers, two relays, the subscribers) under steady load through the API, with faults injected in
 * turn; after the load drains, the invariants of issue 11 are checked and a report is written to
 * chaos/results/. The run has its own stack (state directory .stack-chaos and ports of its own,
 * unless set in the environment), its own database, topics and task queue.
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    rate: { type: 'string', default: '1.5' },
    faults: { type: 'string', default: faultKinds.join(',') },
    /** Seconds between faults; by default each kind comes three times within the duration. */
    'fault-every': { type: 'string' },
    out: { type: 'string', default: path.join(projectRoot, 'chaos', 'results') },
    /** Leave the chaos stack running afterwards. */
    'keep-stack': { type: 'boolean', default: false },
  },
});

const durationS = Number(args.duration);
const rate = Number(args.rate);
const kinds = args.faults.split(',').filter(Boolean) as FaultKind[];
for (const kind of kinds) if (!faultKinds.includes(kind)) throw new Error(`--faults: unknown fault ${kind}; one of ${faultKinds.join(', ')}`);
const faultEveryS = args['fault-every'] ? Number(args['fault-every']) : kinds.length ? durationS / (kinds.length * 3 + 1) : Infinity;

const say = (line: string) => console.log(`chaos: ${line}`);

/** The chaos stack's own place and ports, so it never meets the developer's stack (whatever the environment says). */
const stackEnv: NodeJS.ProcessEnv = {
  ...process.env,
  STACK_STATE_DIR: path.join(projectRoot, '.stack-chaos'),
  POSTGRES_PORT: '56432',
  KAFKA_PORT: '19092',
  KAFKA_CONTROLLER_PORT: '19093',
  KAFKA_NODES: '3',
  TEMPORAL_PORT: '17233',
  TEMPORAL_UI_PORT: '18233',
  // Its processes' /metrics (the second of each kind 10 above), clear of a developer's npm start.
  API_METRICS_PORT: '19464',
  WORKER_METRICS_PORT: '19465',
  RELAY_METRICS_PORT: '19466',
  SUBSCRIBERS_METRICS_PORT: '19467',
  WORKER_TEMPORAL_METRICS_PORT: '19468',
};

async function main(): Promise<number> {
  const base = loadConfig(stackEnv);
  const { started } = await up(base, { say });
  const runId = `chaos${Date.now().toString(36)}`;
  const database = `order_saga_${runId}`;
  const databaseUrl = await createDatabase(base.postgres.url, database);
  const balancerPort = 3300;
  const env: NodeJS.ProcessEnv = {
    ...stackEnv,
    DATABASE_URL: databaseUrl,
    KAFKA_TOPIC_PREFIX: `${runId}.`,
    TEMPORAL_TASK_QUEUE: runId,
    API_PORT: String(balancerPort + 1),
    PAYMENT_PROVIDER_URL: 'http://127.0.0.1:4310',
    API_RATE_LIMIT_USER_PER_MINUTE: '100000000',
    // Faults last seconds: the breakers and the abandoned-claim takeover are shortened to match.
    API_BREAKER_RESET_MS: '5000',
    API_IDEMPOTENCY_ABANDONED_MS: '15000',
    // The run shares two cores with its whole stack (three Kafka nodes among them): a slow answer is not an outage.
    API_DEPENDENCY_TIMEOUT_MS: '10000',
    HOUSEKEEPING_INTERVAL_SECONDS: '15',
    HOUSEKEEPING_PENDING_GRACE_SECONDS: '20',
    MAIL_DIR: path.join(os.tmpdir(), `${runId}-mail`),
  };
  const config = loadConfig(env);
  const names = kafkaNames(config.kafka.topicPrefix);
  const logFile = path.join(stackDirs(config).logDir, `${runId}.log`);
  say(`run ${runId}: database ${database}, topics ${env.KAFKA_TOPIC_PREFIX}*, task queue ${runId}; app logs in ${logFile}`);
  await prepareApplication(config, say);

  const pool = new pg.Pool({ connectionString: config.postgres.url, max: 4 });
  // A connection PostgreSQL drops (the postgres fault) is an error of the pool, not of this process.
  pool.on('error', () => undefined);
  // Stock that runs short before the end, so that out-of-stock failures are part of the mix.
  await pool.query('UPDATE stock SET on_hand = 15, reserved = 0');
  const initialStock = new Map((await pool.query<{ id: string; on_hand: number }>('SELECT id::text, on_hand FROM stock')).rows.map((r) => [r.id, r.on_hand]));
  const productIds = (await pool.query<{ id: string }>('SELECT id::text FROM products WHERE active')).rows.map((r) => r.id);

  const log = fs.createWriteStream(logFile);
  const workerEnv = await prebuiltWorkerEnv(path.join(stackDirs(config).stateDir, `${runId}-workflow-bundle.js`));
  const app = await launchApplication({
    env,
    scale: true,
    processEnv: (name) => ({
      DATABASE_URL: namedDatabaseUrl(config.postgres.url, name),
      // The provider calls the webhook through the balancer, as it would call a deployment.
      ...(name === 'payments' && { API_PORT: String(balancerPort) }),
      ...(name.startsWith('worker') && workerEnv),
    }),
    output: (line) => log.write(`${line}\n`),
    onExit: (name, code) => log.write(`chaos: ${name} exited (${code})\n`),
  });
  const cleanups: (() => Promise<unknown>)[] = [() => app.stop(), () => pool.end()];
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(130)));
  }
  try {
    const report = await drive({ config, app, pool, names, runId, initialStock, productIds, balancerPort, log, cleanups });
    const files = writeReport(args.out, report);
    for (const line of fs.readFileSync(files.markdown, 'utf8').split('\n')) console.log(line);
    say(`report: ${files.json}, ${files.markdown}`);
    return report.invariants.some((i) => i.violations.length) ? 1 : 0;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    log.end();
    if (!args['keep-stack'] && started.length) await down(base);
  }
}

interface DriveContext {
  config: Config;
  app: RunningApplication;
  pool: pg.Pool;
  names: KafkaNames;
  runId: string;
  initialStock: Map<string, number>;
  productIds: string[];
  balancerPort: number;
  log: fs.WriteStream;
  cleanups: (() => Promise<unknown>)[];
}

/** The run itself: load with faults in turn, the drain, the invariants. */
async function drive({ config, app, pool, names, runId, initialStock, productIds, balancerPort, log, cleanups }: DriveContext): Promise<ChaosReport> {
  const balancer = await startBalancer(config.api.host, balancerPort, [balancerPort + 1, balancerPort + 2]);
  cleanups.push(() => balancer.close());
  const kafka = new Kafka({ clientId: runId, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  cleanups.push(() => kafkaAdmin.disconnect());
  const temporal = new Client({ connection: await Connection.connect({ address: config.temporal.address }), namespace: config.temporal.namespace });
  cleanups.push(() => temporal.connection.close());

  const startedAt = Date.now();
  const authorizations = await Promise.all(Array.from({ length: 20 }, async (_, i) => `Bearer ${await signDevToken(config.jwt, `${runId}-customer-${i}`)}`));
  const load = new Load({ apiUrl: `http://${config.api.host}:${balancerPort}`, providerUrl: config.paymentProvider.url, authorizations, productIds, rate });
  const faults = new FaultInjector({ config, app, databaseUrl: config.postgres.url, say: (line) => log.write(`chaos: ${line}\n`) });

  // Poison on purpose: messages no subscriber can read, which must end in the dead-letter topics and nowhere else.
  const poison = [...Array.from({ length: 3 }, () => 'order-events' as const), ...Array.from({ length: 2 }, () => 'inventory-events' as const)].map((topic, i) => ({
    id: `${runId}-poison-${i}`,
    topic,
  }));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (const p of poison) {
    await producer.send({ topic: names.topic(p.topic), messages: [{ key: p.id, value: '{"not an event', headers: { 'chaos-poison': p.id } }] });
  }
  await producer.disconnect();

  const stockSamples: InvariantInputs['stockSamples'] = { taken: 0, outOfBounds: [] };
  let phase = 'load';
  let pending = { orders: 0, outbox: 0 };
  const sampler = setInterval(() => {
    void pool
      .query<{ bad: string; pending: string; outbox: string }>(
        `SELECT (SELECT count(*) FROM stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand)::text AS bad,
                (SELECT count(*) FROM orders WHERE status NOT IN ('confirmed', 'failed', 'cancelled'))::text AS pending,
                (SELECT count(*) FROM outbox WHERE published_at IS NULL)::text AS outbox`,
      )
      .then(({ rows: [row] }) => {
        stockSamples.taken++;
        if (Number(row!.bad)) stockSamples.outOfBounds.push(`${new Date().toISOString()}: ${row!.bad} stock rows out of bounds`);
        pending = { orders: Number(row!.pending), outbox: Number(row!.outbox) };
      }, () => undefined);
  }, 1000);
  const progress = setInterval(() => {
    const c = load.counts;
    const faultCounts = Object.entries(faults.done.reduce<Record<string, number>>((all, f) => ({ ...all, [f.kind]: (all[f.kind] ?? 0) + 1 }), {}))
      .map(([k, n]) => `${k}×${n}`)
      .join(' ');
    say(
      `${Math.round((Date.now() - startedAt) / 1000)}s ${phase} | orders ${c.submitted} sent, ${c.accepted} accepted, ${c.heldBack} held back, ${c.gaveUp} gave up, ${c.retries} retries` +
        ` | pending: ${pending.orders} orders, ${pending.outbox} outbox, ${load.inFlight} clients | faults: ${faultCounts || 'none'}${faults.current ? ` (now: ${faults.current})` : ''}`,
    );
  }, 5000);

  load.start();
  const haltLoad = setTimeout(() => load.halt(), durationS * 1000);
  cleanups.push(async () => {
    clearTimeout(haltLoad);
    clearInterval(sampler);
    clearInterval(progress);
    await load.stop();
  });
  let next = 0;
  while (Date.now() - startedAt < durationS * 1000) {
    const due = startedAt + (next + 1) * faultEveryS * 1000;
    if (kinds.length && Date.now() >= due && due < startedAt + durationS * 1000) {
      const kind = kinds[next % kinds.length]!;
      next++;
      const record = await faults.inject(kind).catch((error: unknown) => {
        say(`fault ${kind} could not be injected: ${(error as Error).message}`);
        return undefined;
      });
      if (record) say(`fault ${record.kind} → ${record.target}, back after ${(record.outageMs / 1000).toFixed(1)} s${record.detail ? ` (${record.detail})` : ''}`);
    }
    await sleep(250);
  }
  phase = 'draining';
  await load.stop();
  await waitUntilDrained(pool, 20 * 60_000);
  await waitUntilConsumed(kafkaAdmin, names, 5 * 60_000);
  const loadSeconds = durationS;
  const drainSeconds = Math.round((Date.now() - startedAt) / 1000 - loadSeconds);
  phase = 'checking';
  clearInterval(sampler);
  const invariants = await checkInvariants({
    db: pool,
    providerUrl: config.paymentProvider.url,
    kafka,
    admin: kafkaAdmin,
    names,
    temporal,
    taskQueue: config.temporal.taskQueue,
    initialStock,
    accepted: load.accepted.keys(),
    poison,
    stockSamples,
  });
  clearInterval(progress);
  const { rows: outcomes } = await pool.query<{ status: string; reason: string | null; n: string }>(
    `SELECT status::text, failure_reason AS reason, count(*)::text AS n FROM orders GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  const report: ChaosReport = {
    runId,
    startedAt: new Date(startedAt).toISOString(),
    loadSeconds,
    drainSeconds,
    rate,
    topology: {
      kafka: `${config.kafka.nodes.length} nodes (KRaft, broker+controller each), replication factor ${config.kafka.replicationFactor}, min.insync.replicas ${config.kafka.minInsyncReplicas}`,
      processes: app.processes.map((p) => p.name),
      temporal: config.temporal.server,
    },
    orders: Object.fromEntries(outcomes.map((o) => [o.reason ? `${o.status} (${o.reason})` : o.status, Number(o.n)])),
    load: load.counts,
    faults: faults.done,
    invariants,
  };
  return report;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
