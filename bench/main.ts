import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createDatabase } from '../db/databases.js';
import { signDevToken } from '../api/auth.js';
import { loadConfig, projectRoot, type Config } from '../config/index.js';
import { launchApplication, prepareApplication, type RunningApplication } from '../scripts/application.js';
import { livePid } from '../stack/processes.js';
import { stackDirs, up } from '../stack/stack.js';
import { createBareActivities } from './bare-activities.js';
import { chartSvg } from './chart.js';
import { ProcessMeter } from './process-stats.js';
import { perSecond, summarize, type Summary } from './stats.js';

/**
 * `npm run bench`: drives orders through the API as clients would, on the local stack, with every
 * process of the application running (API, worker, relay, subscribers, fake provider), and measures
 * the ceiling of the same Temporal server in the same run: a bare workflow of as many no-op steps,
 * and the raw workflow.start rate. Writes JSON, Markdown and an SVG chart to the results folder.
 * The run has its own database, topics and task queues, so the developer's data is untouched.
 */

type Token = 'visa' | 'threeDSecure' | 'chargeDeclined';
const tokens: Record<Token, string> = { visa: 'tok_visa', threeDSecure: 'tok_threeDSecure', chargeDeclined: 'tok_chargeDeclined' };

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    serial: { type: 'string', default: '15' },
    concurrency: { type: 'string', default: '32' },
    rate: { type: 'string' },
    mix: { type: 'string', default: 'visa=100' },
    catalog: { type: 'string', default: 'spread' },
    'no-ceiling': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(projectRoot, 'bench', 'results') },
    label: { type: 'string', default: '' },
    /** A folder for V8 CPU profiles of the application's processes (open them in Chrome DevTools or speedscope). */
    profile: { type: 'string' },
  },
});

const durationS = Number(args.duration);
const serialS = Number(args.serial);
const concurrency = Number(args.concurrency);
const openRate = args.rate ? Number(args.rate) : undefined;
const hot = args.catalog === 'hot';
const mix = parseMix(args.mix);


function parseMix(text: string): [Token, number][] {
  const entries = text.split(',').map((part) => {
    const [name, weight] = part.split('=');
    if (!name || !(name in tokens)) throw new Error(`--mix: unknown token ${name}; one of ${Object.keys(tokens).join(', ')}`);
    return [name as Token, Number(weight ?? 1)] as [Token, number];
  });
  return entries;
}

function pickToken(): Token {
  const total = mix.reduce((sum, [, w]) => sum + w, 0);
  let r = Math.random() * total;
  for (const [token, weight] of mix) {
    if ((r -= weight) < 0) return token;
  }
  return mix[0]![0];
}

const say = (line: string) => console.log(`bench: ${line}`);

interface OrderSample {
  orderId: string;
  token: Token;
  startedAt: number;
  postMs: number;
  /** When the order reached its final status, by the timestamp of that status in the order's timeline. */
  doneAt?: number;
  status?: string;
  /** When this bench's consumer saw the order's final event in Kafka. */
  kafkaAt?: number;
}

class OrderTracker {
  private readonly waiting = new Map<string, { sample: OrderSample; resolve: () => void; authenticated: boolean }>();
  private readonly kafkaSeen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: pg.Pool,
    private readonly providerUrl: string,
  ) {}

  start(): void {
    const tick = async () => {
      await this.poll().catch((error: unknown) => say(`poll failed: ${(error as Error).message}`));
      this.timer = setTimeout(() => void tick(), 10);
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  sawInKafka(orderId: string, at: number): void {
    this.kafkaSeen.set(orderId, at);
  }

  kafkaTime(orderId: string): number | undefined {
    return this.kafkaSeen.get(orderId);
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  untilDone(sample: OrderSample): Promise<void> {
    return new Promise((resolve) => this.waiting.set(sample.orderId, { sample, resolve, authenticated: false }));
  }

  private async poll(): Promise<void> {
    if (!this.waiting.size) return;
    const { rows } = await this.db.query<{ id: string; status: string; at: Date | null }>(
      `SELECT o.id::text AS id, o.status::text AS status,
              (SELECT max(h.created_at) FROM order_status_history h WHERE h.order_id = o.id AND h.status = o.status) AS at
       FROM orders o WHERE o.id = ANY($1::uuid[]) AND o.status IN ('confirmed', 'failed', 'cancelled', 'awaiting_payment')`,
      [[...this.waiting.keys()]],
    );
    for (const row of rows) {
      const entry = this.waiting.get(row.id);
      if (!entry) continue;
      if (row.status === 'awaiting_payment') {
        if (!entry.authenticated) {
          entry.authenticated = true;
          void this.authenticate(row.id);
        }
        continue;
      }
      entry.sample.status = row.status;
      entry.sample.doneAt = row.at?.getTime() ?? Date.now();
      this.waiting.delete(row.id);
      entry.resolve();
    }
  }

  /** Plays the customer completing 3-D Secure at the provider, which calls the API's webhook. */
  private async authenticate(orderId: string): Promise<void> {
    const list = (await (await fetch(`${this.providerUrl}/v1/charges?reference=${orderId}`)).json()) as { data: { id: string }[] };
    const charge = list.data[0];
    if (charge) await fetch(`${this.providerUrl}/v1/charges/${charge.id}/authenticate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  }
}

interface PhaseResult {
  name: string;
  concurrency: number;
  seconds: number;
  completed: number;
  perSecond: number;
  post: Summary;
  terminal: Summary;
  kafka: Summary;
  outcomes: Record<string, number>;
  cpuSecondsPerSaga?: Record<string, number>;
  series?: ReturnType<typeof perSecond>;
}

async function main(): Promise<void> {
  const base = loadConfig();
  await up(base, { say });
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const runId = `bench${Date.now().toString(36)}`;
  const database = `order_saga_${runId}`;
  const databaseUrl = await createDatabase(base.postgres.url, database);
  const logFile = path.join(stackDirs(base).logDir, `${runId}.log`);
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: databaseUrl,
    KAFKA_TOPIC_PREFIX: `${runId}.`,
    TEMPORAL_TASK_QUEUE: runId,
    API_PORT: '3100',
    PAYMENT_PROVIDER_URL: 'http://127.0.0.1:4110',
    // Each simulated client is its own user, but a client sends far more than a person would.
    API_RATE_LIMIT_USER_PER_MINUTE: '100000000',
    MAIL_DIR: path.join(os.tmpdir(), `${runId}-mail`),
  };
  const config = loadConfig({ ...process.env, ...env });
  say(`run ${runId}: database ${database}, topics ${env.KAFKA_TOPIC_PREFIX}*, task queue ${runId}; app logs in ${logFile}`);

  await prepareApplication(config, say);
  const pool = new pg.Pool({ connectionString: config.postgres.url, max: 4 });
  // Enough stock that no order of the run fails for want of it.
  await pool.query('UPDATE stock SET on_hand = 100000000, reserved = 0');
  const variants = (
    await pool.query<{ product_id: string; id: string }>('SELECT product_id::text, id::text FROM product_variants WHERE active ORDER BY sku')
  ).rows;

  const log = fs.createWriteStream(logFile);
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : [];
  const app = await launchApplication({ env, nodeArgs, output: (line) => log.write(`${line}\n`), onExit: (name, code) => say(`${name} exited (${code})`) });
  const cleanups: (() => Promise<unknown>)[] = [() => app.stop()];
  try {
    const result = await runPhases({ config, app, pool, variants, runId });
    writeResults(result);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await pool.end();
    log.end();
    const drop = new pg.Client({ connectionString: base.postgres.url });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${drop.escapeIdentifier(database)} WITH (FORCE)`);
    await drop.end();
    const kafkaAdmin = new Kafka({ clientId: runId, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
    const ours = (await kafkaAdmin.listTopics()).filter((t) => t.startsWith(`${runId}.`));
    if (ours.length) await kafkaAdmin.deleteTopics({ topics: ours });
    await kafkaAdmin.disconnect();
  }
}

interface RunContext {
  config: Config;
  app: RunningApplication;
  pool: pg.Pool;
  variants: { product_id: string; id: string }[];
  runId: string;
}

async function runPhases(context: RunContext) {
  const { config, app, pool, variants, runId } = context;
  const tracker = new OrderTracker(pool, config.paymentProvider.url);
  tracker.start();

  const kafka = new Kafka({ clientId: runId, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${runId}-bench` });
  await consumer.connect();
  await consumer.subscribe({ topic: `${runId}.order-events`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value!.toString()) as { event_type: string; data: { order_id: string } };
      if (['order.confirmed', 'order.failed', 'order.cancelled'].includes(event.event_type)) tracker.sawInKafka(event.data.order_id, Date.now());
    },
  });

  const stackPids = Object.fromEntries(
    ['postgres', 'kafka', 'temporal'].flatMap((name) => {
      const pid = livePid(path.join(stackDirs(config).runDir, `${name}.pid`));
      return pid ? [[name, pid]] : [];
    }),
  );
  const meter = new ProcessMeter({ ...Object.fromEntries(app.processes.map((p) => [p.name, p.pid])), ...stackPids }, { 'bench (load generator)': process.pid });
  const sampler = setInterval(() => meter.sample(), 1000);

  const clients = await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const userId = `${runId}-client-${i}`;
      return { authorization: `Bearer ${await signDevToken(config.jwt, userId)}` };
    }),
  );
  const apiUrl = `http://${config.api.host}:${config.api.port}/api/v1`;

  const placeOrder = async (client: { authorization: string }): Promise<OrderSample> => {
    const variant = hot ? variants[0]! : variants[Math.floor(Math.random() * variants.length)]!;
    const token = pickToken();
    const startedAt = Date.now();
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { authorization: client.authorization, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({
        items: [{ product_id: variant.product_id, variant_id: variant.id, quantity: 1 }],
        shipping_address: { address_line1: '1 Main St', city: 'San Francisco', state: 'CA', postal_code: '94105', country: 'US' },
        payment: { method: 'card', token: tokens[token] },
      }),
    });
    const postMs = Date.now() - startedAt;
    if (response.status !== 202) {
      // A refusal under load (a 503 while Temporal is slow to answer) is an outcome to report, not the end of the run.
      say(`POST /orders answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
      return { orderId: '', token, startedAt, postMs, status: `refused ${response.status}` };
    }
    const { order_id: orderId } = (await response.json()) as { order_id: string };
    return { orderId, token, startedAt, postMs };
  };

  const runSagaPhase = async (name: string, seconds: number, clientsInPhase: number): Promise<PhaseResult> => {
    const samples: OrderSample[] = [];
    const phaseStart = Date.now();
    const until = phaseStart + seconds * 1000;
    meter.mark();
    const progress = setInterval(() => {
      const done = samples.filter((s) => s.doneAt);
      const recent = done.filter((s) => s.doneAt! > Date.now() - 5000);
      const p50 = summarize(recent.map((s) => s.doneAt! - s.startedAt)).p50;
      say(
        `${name}: ${Math.round((Date.now() - phaseStart) / 1000)}/${seconds} s, ${done.length} done, ${tracker.inFlight} in flight, ` +
          `${(recent.length / 5).toFixed(1)}/s, p50 ${Number.isFinite(p50) ? Math.round(p50) : '-'} ms (last 5 s)`,
      );
    }, 5000);
    const oneOrder = async (client: { authorization: string }) => {
      const sample = await placeOrder(client);
      samples.push(sample);
      if (sample.orderId) await tracker.untilDone(sample);
    };
    if (openRate && clientsInPhase > 1) {
      // Open loop: orders arrive at a fixed rate, whether or not the earlier ones finished.
      const pending: Promise<void>[] = [];
      for (let i = 0; Date.now() < until; i++) {
        pending.push(oneOrder(clients[i % clients.length]!));
        await new Promise((resolve) => setTimeout(resolve, 1000 / openRate));
      }
      await Promise.all(pending);
    } else {
      await Promise.all(
        clients.slice(0, clientsInPhase).map(async (client) => {
          while (Date.now() < until) await oneOrder(client);
        }),
      );
    }
    const elapsed = (Date.now() - phaseStart) / 1000;
    clearInterval(progress);
    // Give the relay and the consumer a moment to deliver the last final events.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const cpu = meter.cpuSinceMark();
    for (const s of samples) s.kafkaAt = tracker.kafkaTime(s.orderId);
    const outcomes: Record<string, number> = {};
    for (const s of samples) outcomes[s.status ?? 'unfinished'] = (outcomes[s.status ?? 'unfinished'] ?? 0) + 1;
    const completed = samples.filter((s) => s.doneAt).length;
    return {
      name,
      concurrency: clientsInPhase,
      seconds: elapsed,
      completed,
      perSecond: completed / elapsed,
      post: summarize(samples.map((s) => s.postMs)),
      terminal: summarize(samples.filter((s) => s.doneAt).map((s) => s.doneAt! - s.startedAt)),
      kafka: summarize(samples.filter((s) => s.kafkaAt).map((s) => s.kafkaAt! - s.startedAt)),
      outcomes,
      cpuSecondsPerSaga: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, completed ? v / completed : Number.NaN])),
      series: perSecond(
        samples.filter((s) => s.doneAt).map((s) => ({ doneAt: s.doneAt!, latencyMs: s.doneAt! - s.startedAt })),
        phaseStart,
      ),
    };
  };

  say('warming up (5 s, not counted)');
  await runSagaPhase('warm-up', 5, 4);
  say(`one at a time for ${serialS} s`);
  const serial = await runSagaPhase('serial', serialS, 1);
  say(`${concurrency} clients for ${durationS} s${openRate ? ` at ${openRate}/s` : ''}`);
  const concurrent = await runSagaPhase('concurrent', durationS, concurrency);
  clearInterval(sampler);
  const peakRss = meter.peakRss();

  say('API start rate: POST /orders only, 5 s');
  const postOnly = await startRate(5, async () => {
    const sample = await placeOrder(clients[Math.floor(Math.random() * clients.length)]!);
    if (sample.orderId) void tracker.untilDone(sample);
  });
  say(`waiting for the ${tracker.inFlight} sagas it started to finish`);
  while (tracker.inFlight) await new Promise((resolve) => setTimeout(resolve, 200));

  await consumer.disconnect();
  tracker.stop();

  const ceiling = args['no-ceiling'] ? undefined : await measureCeiling(config, runId);
  return { serial, concurrent, postOnly, ceiling, peakRss };
}

/** How many calls of `start` complete per second with `concurrency` callers, for `seconds`. */
async function startRate(seconds: number, start: () => Promise<void>): Promise<{ perSecond: number; count: number }> {
  const until = Date.now() + seconds * 1000;
  const begin = Date.now();
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        await start();
        count++;
      }
    }),
  );
  return { count, perSecond: count / ((Date.now() - begin) / 1000) };
}

/** The same server's ceiling: a bare workflow of three no-op activities (one at a time and concurrent), and raw starts. */
async function measureCeiling(config: Config, runId: string) {
  const taskQueue = `${runId}-bare`;
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
    activities: createBareActivities(),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
  });
  const client = new Client({ connection: await Connection.connect({ address: config.temporal.address }), namespace: config.temporal.namespace });
  const execute = async (): Promise<number> => {
    const started = Date.now();
    await client.workflow.execute('BareSaga', { taskQueue, workflowId: `${runId}-bare-${randomUUID()}` });
    return Date.now() - started;
  };
  const phase = async (seconds: number, clients: number) => {
    const latencies: number[] = [];
    const until = Date.now() + seconds * 1000;
    const begin = Date.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (Date.now() < until) latencies.push(await execute());
      }),
    );
    return { perSecond: latencies.length / ((Date.now() - begin) / 1000), latency: summarize(latencies) };
  };
  const result = await worker.runUntil(async () => {
    await phase(3, 4);
    say(`ceiling: bare workflow one at a time for ${serialS} s`);
    const serial = await phase(serialS, 1);
    say(`ceiling: bare workflow with ${concurrency} clients for ${durationS} s`);
    const concurrent = await phase(durationS, concurrency);
    return { serial, concurrent };
  });
  say('ceiling: raw workflow.start rate (no worker), 5 s');
  const rawStart = await startRate(5, async () => {
    await client.workflow.start('BareSaga', { taskQueue: `${runId}-nobody`, workflowId: `${runId}-raw-${randomUUID()}`, workflowExecutionTimeout: '1 minute' });
  });
  await client.connection.close();
  await connection.close();
  return { ...result, rawStart };
}

type Results = Awaited<ReturnType<typeof runPhases>>;

function writeResults(results: Results): void {
  const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  const options = { durationS, serialS, concurrency, openRate, mix: args.mix, catalog: args.catalog, label: args.label };
  const { serial, concurrent, postOnly, ceiling } = results;
  const ratios = ceiling
    ? {
        sagaPerSecondOverBare: concurrent.perSecond / ceiling.concurrent.perSecond,
        apiStartOverRawStart: postOnly.perSecond / ceiling.rawStart.perSecond,
        sagaP50OverBareP50: serial.terminal.p50 / ceiling.serial.latency.p50,
      }
    : undefined;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(args.out!, { recursive: true });
  const base = path.join(args.out!, stamp);
  const json = { at: new Date().toISOString(), machine, options, ...results, ratios };
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '-');
  const cpuRows = Object.keys(concurrent.cpuSecondsPerSaga ?? {})
    .map((name) => `| ${name} | ${((concurrent.cpuSecondsPerSaga![name] ?? 0) * 1000).toFixed(1)} ms | ${Math.round(results.peakRss[name] ?? 0)} MiB |`)
    .join('\n');
  const ours = ['api', 'worker', 'relay', 'subscribers'].reduce((sum, name) => sum + (concurrent.cpuSecondsPerSaga?.[name] ?? 0), 0);
  const markdown = `# Bench ${json.at}${args.label ? ` (${args.label})` : ''}

Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}.
Options: ${concurrency} clients, ${durationS} s concurrent, ${serialS} s one at a time, mix \`${args.mix}\`, catalog ${args.catalog}${openRate ? `, open loop at ${openRate}/s` : ''}.

| through the API | one at a time | ${concurrency} clients |
|---|---|---|
| sagas/s | ${serial.perSecond.toFixed(1)} | ${concurrent.perSecond.toFixed(1)} |
| POST p50 / p99 | ${ms(serial.post.p50)} / ${ms(serial.post.p99)} | ${ms(concurrent.post.p50)} / ${ms(concurrent.post.p99)} |
| POST → final status p50 / p95 / p99 | ${ms(serial.terminal.p50)} / ${ms(serial.terminal.p95)} / ${ms(serial.terminal.p99)} | ${ms(concurrent.terminal.p50)} / ${ms(concurrent.terminal.p95)} / ${ms(concurrent.terminal.p99)} |
| POST → final event in Kafka p50 / p99 | ${ms(serial.kafka.p50)} / ${ms(serial.kafka.p99)} | ${ms(concurrent.kafka.p50)} / ${ms(concurrent.kafka.p99)} |
| outcomes | ${JSON.stringify(serial.outcomes)} | ${JSON.stringify(concurrent.outcomes)} |

API start rate (POST only, ${concurrency} clients): ${postOnly.perSecond.toFixed(1)}/s.

${
  ceiling
    ? `| ceiling (same server, bare workflow of 3 no-op steps) | one at a time | ${concurrency} clients |
|---|---|---|
| workflows/s | ${ceiling.serial.perSecond.toFixed(1)} | ${ceiling.concurrent.perSecond.toFixed(1)} |
| latency p50 / p99 | ${ms(ceiling.serial.latency.p50)} / ${ms(ceiling.serial.latency.p99)} | ${ms(ceiling.concurrent.latency.p50)} / ${ms(ceiling.concurrent.latency.p99)} |

Raw workflow.start rate: ${ceiling.rawStart.perSecond.toFixed(1)}/s.

Ratios: saga/s over bare/s **${ratios!.sagaPerSecondOverBare.toFixed(2)}**; API start rate over raw start rate **${ratios!.apiStartOverRawStart.toFixed(2)}**; saga p50 over bare p50 (one at a time) **${ratios!.sagaP50OverBareP50.toFixed(2)}**.`
    : 'Ceiling not measured (--no-ceiling).'
}

CPU per completed saga (${concurrency} clients) and peak RSS, per process tree:

| process | CPU per saga | peak RSS |
|---|---|---|
${cpuRows}

Our own processes (API, worker, relay, subscribers): **${(ours * 1000).toFixed(1)} ms** CPU per saga.

![latency and throughput](${path.basename(base)}.svg)
`;
  fs.writeFileSync(`${base}.md`, markdown);
  fs.writeFileSync(`${base}.svg`, chartSvg(`${concurrency} clients, ${args.mix}, ${args.catalog} catalog`, concurrent.series ?? []));
  fs.copyFileSync(`${base}.md`, path.join(args.out!, 'latest.md'));
  console.log(`\n${markdown}\nbench: results in ${base}.{json,md,svg}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
