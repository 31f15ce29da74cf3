import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot, type Config } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { createKafka } from '../events/kafka.js';
import { ensureTopics } from '../events/process.js';
import { applyMigrations } from '../prisma/migrate.js';
import { seedCatalog } from '../prisma/seed.js';
import { rebuildProductSearch } from '../read-models/search.js';
import { createLogger } from '../runtime/log.js';
import { StackError } from '../stack/processes.js';

/** The application's processes, each its own npm script, as they would run in production. */
interface AppProcess {
  name: string;
  script: string;
  /** A line the process prints once it serves. */
  ready: string;
}

export const appProcesses: AppProcess[] = [
  { name: 'payments', script: 'fake-payment-provider/main.ts', ready: 'fake payment provider listening' },
  { name: 'worker', script: 'workers/main.ts', ready: 'order worker polling' },
  { name: 'api', script: 'api/main.ts', ready: 'Server listening' },
  { name: 'relay', script: 'events/relay/main.ts', ready: 'outbox relay running' },
  { name: 'subscribers', script: 'events/subscribers/main.ts', ready: 'subscribers running' },
];

/** Migrates and seeds a database, rebuilds its search read model, and provisions the topics. */
export async function prepareApplication(config: Config, say: (line: string) => void): Promise<void> {
  const applied = await applyMigrations(config.postgres.url);
  say(`migrations ${applied.length ? `applied: ${applied.join(', ')}` : 'up to date'}`);
  const prisma = createPrisma(config.postgres.url);
  try {
    const seeded = await seedCatalog(prisma);
    say(`catalog seeded (${JSON.stringify(seeded)})`);
    say(`search read model rebuilt for ${await rebuildProductSearch(prisma, systemClock)} products`);
  } finally {
    await prisma.$disconnect();
  }
  // Once, before the relay and the subscribers start, so that the two do not race to create them.
  await ensureTopics(createKafka(config, 'start'), config, createLogger('start', 'warn'));
}

export interface RunningApplication {
  /** Each process by name, with its pid. */
  processes: { name: string; pid: number }[];
  /** Sends SIGTERM to every process and waits until all have exited. */
  stop(): Promise<void>;
}

/**
 * Starts the application's processes (tsx as a loader in one process each, so that signals reach
 * the app itself), prefixing their output with their names, and waits until each serves. `env` is
 * added to this process's environment; `onExit` hears of a process that exits on its own.
 */
export async function launchApplication(options: {
  env?: NodeJS.ProcessEnv;
  /** Added to each process's node command line (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  output?: (line: string) => void;
  onExit?: (name: string, code: number | null) => void;
}): Promise<RunningApplication> {
  const output = options.output ?? ((line) => process.stdout.write(`${line}\n`));
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const { child } of children) child.kill('SIGTERM');
    await Promise.all(children.map(({ child }) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : null)));
  };
  const readiness = appProcesses.map((app) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', app.script], {
      cwd: projectRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push({ name: app.name, child });
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
          output(prefix + line);
        }
      });
    }
    child.once('exit', (code) => {
      if (!stopping) options.onExit?.(app.name, code);
    });
    return Promise.race([ready, sleep(120_000).then(() => Promise.reject(new StackError(`${app.name} did not start within 2 minutes`)))]);
  });
  const running = { processes: children.map(({ name, child }) => ({ name, pid: child.pid! })), stop };
  try {
    await Promise.all(readiness);
  } catch (error) {
    await stop();
    throw error;
  }
  return running;
}
