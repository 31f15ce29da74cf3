import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig, projectRoot, type Config } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { applyMigrations } from '../prisma/migrate.js';
import { seedCatalog } from '../prisma/seed.js';
import { systemClock } from '../domain/clock.js';
import { createKafka } from '../events/kafka.js';
import { createLogger } from '../runtime/log.js';
import { ensureTopics } from '../events/process.js';
import { rebuildProductSearch } from '../read-models/search.js';
import { StackError } from '../stack/processes.js';
import { up } from '../stack/stack.js';

/** The application's processes, each its own npm script, as they would run in production. */
interface AppProcess {
  name: string;
  script: string;
  /** A line the process prints once it serves. */
  ready: string;
}

const processes: AppProcess[] = [
  { name: 'payments', script: 'fake-payment-provider/main.ts', ready: 'fake payment provider listening' },
  { name: 'worker', script: 'workers/main.ts', ready: 'order worker polling' },
  { name: 'api', script: 'api/main.ts', ready: 'Server listening' },
  { name: 'relay', script: 'events/relay/main.ts', ready: 'outbox relay running' },
  { name: 'subscribers', script: 'events/subscribers/main.ts', ready: 'subscribers running' },
];

function launch(app: AppProcess, onExit: (code: number | null) => void): { child: ChildProcess; ready: Promise<void> } {
  // tsx as a loader in one process, so that the signals sent to the child reach the app itself.
  const child = spawn(process.execPath, ['--import', 'tsx', app.script], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let resolveReady: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const prefix = `${app.name.padEnd(11)} | `;
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes(app.ready)) resolveReady();
        process.stdout.write(prefix + line + '\n');
      }
    });
  }
  child.once('exit', onExit);
  return { child, ready };
}

async function prepareDatabase(config: Config): Promise<void> {
  const applied = await applyMigrations(config.postgres.url);
  console.log(`start: migrations ${applied.length ? `applied: ${applied.join(', ')}` : 'up to date'}`);
  const prisma = createPrisma(config.postgres.url);
  try {
    const seeded = await seedCatalog(prisma);
    console.log(`start: catalog seeded (${JSON.stringify(seeded)})`);
    console.log(`start: search read model rebuilt for ${await rebuildProductSearch(prisma, systemClock)} products`);
  } finally {
    await prisma.$disconnect();
  }
}

/**
 * `npm start`: the whole system on this machine. Installs and starts the stack, migrates and seeds
 * the database, runs the application's processes in the foreground and prints where everything is.
 * Ctrl-C stops the application; the stack keeps running (`npm run stack -- down` stops it).
 */
async function main(): Promise<void> {
  const config = loadConfig();
  await up(config, { say: (line) => console.log(`start: ${line}`) });
  await prepareDatabase(config);
  // Once, before the relay and the subscribers start, so that the two do not race to create them.
  await ensureTopics(createKafka(config, 'start'), config, createLogger('start', 'warn'));

  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) child.kill('SIGTERM');
    void Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => process.exit(code));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stopAll(0));

  const readiness = processes.map((app) => {
    const { child, ready } = launch(app, (code) => {
      if (!stopping) {
        console.error(`start: ${app.name} exited (${code}); stopping the others`);
        stopAll(1);
      }
    });
    children.push(child);
    return Promise.race([ready, sleep(120_000).then(() => Promise.reject(new StackError(`${app.name} did not start within 2 minutes`)))]);
  });
  try {
    await Promise.all(readiness);
  } catch (error) {
    console.error(`start: ${(error as Error).message}`);
    stopAll(1);
    return;
  }

  console.log(`
The order saga is running.
  API               ${config.api.url}/api/v1
  API docs          ${config.api.url}/docs   (OpenAPI: ${config.api.url}/openapi.json)
  Health            ${config.api.url}/health
  Temporal Web UI   ${config.temporal.uiUrl}
  Temporal server   ${config.temporal.address} (namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue})
  Kafka             ${config.kafka.brokers.join(',')}
  PostgreSQL        ${config.postgres.url.replace(/:[^:@/]+@/, ':***@')}

  Mail (dev)        ${config.mail.smtpUrl ? 'SMTP' : config.mail.dir}

  A token for the API:  npm run token -- <user-id> [--admin]
  The Temporal CLI:     npm run stack -- temporal workflow list
  Ctrl-C stops the application; npm run stack -- down stops the servers.`);
}

main().catch((error: unknown) => {
  if (!(error instanceof StackError || error instanceof ConfigError)) throw error;
  console.error(`start: ${error.message}`);
  process.exit(1);
});
