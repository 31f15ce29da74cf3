import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, projectRoot, type Config } from '../config/index.js';
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
  /** How many run in the scaled-out topology (`npm start -- --scale`). */
  scaled: number;
  /** What instance n (from 2 on) needs to differ from the first: its own port. */
  instanceEnv?: (n: number, env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
}

/** Instance n's metrics port: 10 above the previous instance's (0, no endpoint, stays 0). */
const metricsPortOf = (port: number, n: number) => String(port === 0 ? 0 : port + 10 * (n - 1));

export const appProcesses: AppProcess[] = [
  { name: 'payments', script: 'fake-payment-provider/main.ts', ready: 'fake payment provider listening', scaled: 1 },
  {
    name: 'worker',
    script: 'workers/main.ts',
    ready: 'order worker polling',
    scaled: 2,
    instanceEnv: (n, env) => {
      const { metrics } = loadConfig(env);
      return { WORKER_METRICS_PORT: metricsPortOf(metrics.ports.worker, n), WORKER_TEMPORAL_METRICS_PORT: metricsPortOf(metrics.temporalPort, n) };
    },
  },
  {
    name: 'api',
    script: 'api/main.ts',
    ready: 'Server listening',
    scaled: 2,
    instanceEnv: (n, env) => {
      const config = loadConfig(env);
      return { API_PORT: String(config.api.port + n - 1), API_METRICS_PORT: metricsPortOf(config.metrics.ports.api, n) };
    },
  },
  {
    name: 'relay',
    script: 'events/relay/main.ts',
    ready: 'outbox relay running',
    scaled: 2,
    instanceEnv: (n, env) => ({ RELAY_METRICS_PORT: metricsPortOf(loadConfig(env).metrics.ports.relay, n) }),
  },
  { name: 'subscribers', script: 'events/subscribers/main.ts', ready: 'subscribers running', scaled: 1 },
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
  const log = createLogger('start', 'warn');
  await ensureTopics(createKafka(config, 'start', log), config, log);
}

export interface RunningApplication {
  /** Each process by name (`api`, or `api-1`, `api-2` when several run), with its pid. */
  processes: { name: string; pid: number }[];
  /** Starts a process again (one that exited or was killed) and waits until it serves; returns its new pid. */
  restart(name: string): Promise<number>;
  /** Sends SIGTERM to every process and waits until all have exited. */
  stop(): Promise<void>;
}

/**
 * Starts the application's processes (tsx as a loader in one process each, so that signals reach
 * the app itself), prefixing their output with their names, and waits until each serves. `env` is
 * added to this process's environment; `onExit` hears of a process that exits on its own. `scale`
 * runs the scaled-out topology: two APIs (on API_PORT and the port after it), two workers, two relays.
 */
export async function launchApplication(options: {
  env?: NodeJS.ProcessEnv;
  /** Added to each process's node command line (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  scale?: boolean;
  /** What one process (by name) gets beside `env`, e.g. a database application_name to tell it apart. */
  processEnv?: (name: string) => NodeJS.ProcessEnv;
  output?: (line: string) => void;
  onExit?: (name: string, code: number | null) => void;
}): Promise<RunningApplication> {
  const output = options.output ?? ((line) => process.stdout.write(`${line}\n`));
  const env = { ...process.env, ...options.env };
  const instances = appProcesses.flatMap((app) => {
    const count = options.scale ? app.scaled : 1;
    return Array.from({ length: count }, (_, i) => {
      const name = count > 1 ? `${app.name}-${i + 1}` : app.name;
      const own = { ...env, ...options.processEnv?.(name) };
      return { app, name, env: i > 0 && app.instanceEnv ? { ...own, ...app.instanceEnv(i + 1, own) } : own };
    });
  });
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stop = async () => {
    stopping = true;
    const all = [...children.values()];
    for (const child of all) child.kill('SIGTERM');
    await Promise.all(all.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : null)));
  };
  const start = (instance: (typeof instances)[number]): Promise<void> => {
    const { app, name } = instance;
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', app.script], {
      cwd: projectRoot,
      env: instance.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(name, child);
    let resolveReady: () => void;
    const ready = new Promise<void>((resolve) => (resolveReady = resolve));
    const prefix = `${name.padEnd(11)} | `;
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
      if (!stopping && children.get(name) === child) options.onExit?.(name, code);
    });
    return Promise.race([ready, sleep(120_000).then(() => Promise.reject(new StackError(`${name} did not start within 2 minutes`)))]);
  };
  const running: RunningApplication = {
    get processes() {
      return [...children].map(([name, child]) => ({ name, pid: child.pid! }));
    },
    async restart(name) {
      const instance = instances.find((i) => i.name === name);
      if (!instance) throw new StackError(`no process named ${name}`);
      await start(instance);
      return children.get(name)!.pid!;
    },
    stop,
  };
  try {
    await Promise.all(instances.map(start));
  } catch (error) {
    await stop();
    throw error;
  }
  return running;
}
