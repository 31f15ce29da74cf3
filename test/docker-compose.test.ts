import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createTokenVerifier } from '../api/auth.js';
import { loadConfig, projectRoot } from '../config/index.js';
import { systemClock } from '../domain/clock.js';
import { versions } from '../stack/tools.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';
import { testConfig, uniqueName } from './support/env.js';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string | number>;
  command?: string[];
  entrypoint?: string[];
  profiles?: string[];
  init?: boolean;
  stop_grace_period?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

// Compose resolves YAML merge keys (`<<: *app`), as the application services use them.
const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const service = (name: string): ComposeService => compose.services[name] ?? {};
const appServices = { api: 'api', worker: 'worker', relay: 'relay', subscribers: 'subscribers', payments: 'payments:fake' };
const scripts = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const defaults = loadConfig({});

function hostPort(name: string, containerPort: number): number | undefined {
  const mapping = service(name).ports?.find((p) => p.endsWith(`:${containerPort}`));
  return mapping ? Number(mapping.split(':')[0]) : undefined;
}

function environment(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, String(v)]));
}

/** Where a service's volumes are mounted in its container. */
function mountTargets(name: string): string[] {
  return (service(name).volumes ?? []).map((v) => v.split(':')[1]!);
}

const isInside = (file: string, dir: string) => !path.posix.relative(dir, file).startsWith('..');

/** Compose's durations as stop_grace_period takes them: `1m30s`, `45s`. Docker's default is 10 s. */
function seconds(duration: string | undefined): number {
  if (!duration) return 10;
  const units = { h: 3600, m: 60, s: 1 } as const;
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), `duration ${duration}`).toBe(duration);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit as keyof typeof units], 0);
}

describe('docker-compose.yml', () => {
  it('runs the infrastructure on real images', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'kafka', 'otel-collector', 'jaeger']),
    );
    for (const s of Object.values(compose.services)) expect(s.image).toMatch(/^[\w./-]+:[\w.-]+$/);
  });

  it('publishes each server on the port the config module defaults to', () => {
    expect(hostPort('postgres', 5432)).toBe(defaults.postgres.port);
    expect(hostPort('temporal', 7233)).toBe(defaults.temporal.port);
    expect(hostPort('temporal', 8233)).toBe(defaults.temporal.uiPort);
    expect(hostPort('kafka', 9092)).toBe(defaults.kafka.port);
    expect(hostPort('otel-collector', 4318)).toBe(Number(new URL(defaults.telemetry.otlpTracesUrl).port));
  });

  it('uses the credentials and database the config module defaults to', () => {
    const env = environment('postgres');
    expect(env.POSTGRES_USER).toBe(defaults.postgres.user);
    expect(env.POSTGRES_PASSWORD).toBe(defaults.postgres.password);
    expect(env.POSTGRES_DB).toBe(defaults.postgres.database);
  });

  it("runs Temporal's dev server (not the deprecated auto-setup image) with every search attribute the workflows use", () => {
    for (const s of Object.values(compose.services)) expect(s.image).not.toContain('auto-setup');
    const temporal = service('temporal');
    expect(temporal.image).toBe(`temporalio/temporal:${versions.temporalCli}`);
    const args = temporal.command ?? [];
    expect(args.slice(0, 2)).toEqual(['server', 'start-dev']);
    for (const key of orderSearchAttributes) {
      const type = key.type.charAt(0) + key.type.slice(1).toLowerCase();
      expect(args.join(' ')).toContain(`--search-attribute ${key.name}=${type}`);
    }
    // Its SQLite file is in the volume: sagas survive a restart, as the orders in PostgreSQL do.
    const dbFile = args[args.indexOf('--db-filename') + 1]!;
    expect(mountTargets('temporal').some((dir) => isInside(dbFile, dir)), dbFile).toBe(true);
  });

  it("keeps Kafka's data in its volume, so topics outlive the container as the outbox rows do", () => {
    // apache/kafka writes to /tmp/kraft-combined-logs unless KAFKA_LOG_DIRS says otherwise.
    const env = environment('kafka');
    const logDirs = (env.KAFKA_LOG_DIRS ?? '/tmp/kraft-combined-logs').split(',');
    for (const dir of logDirs) expect(mountTargets('kafka').some((v) => isInside(dir, v)), dir).toBe(true);
    expect(env.CLUSTER_ID, 'the id the volume is formatted with').toMatch(/^[\w-]{22}$/);
  });

  it('runs every application process from the one Dockerfile, each with node on the entry point of its npm script', () => {
    expect(fs.existsSync(path.join(projectRoot, 'Dockerfile'))).toBe(true);
    for (const [name, script] of Object.entries(appServices)) {
      const app = service(name);
      expect(app.build, name).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(scripts[script], script).toMatch(/^tsx \S+\.ts$/);
      expect(app.command, name).toEqual(['node', '--import', 'tsx', scripts[script]!.slice('tsx '.length)]);
      expect(app.init, `${name}: a PID 1 that forwards signals and reaps`).toBe(true);
    }
    expect(service('migrate').command?.join(' ')).toContain('npm run db:migrate');
  });

  it('points the application at the compose servers, after the migration has run', () => {
    for (const name of ['api', 'worker', 'relay', 'subscribers']) {
      const env = environment(name);
      expect(env, name).toMatchObject({ POSTGRES_HOST: 'postgres', POSTGRES_PORT: '5432', TEMPORAL_ADDRESS: 'temporal:7233', KAFKA_BROKERS: 'kafka:29092' });
      expect(env.POSTGRES_PASSWORD).toBe(defaults.postgres.password);
      expect(service(name).depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        temporal: { condition: 'service_healthy' },
        kafka: { condition: 'service_healthy' },
      });
      // Production mode with the secrets given explicitly: the configuration must accept it as it stands.
      expect(() => loadConfig(env)).not.toThrow();
    }
  });

  it('gives every process longer to stop than its own shutdown takes', () => {
    for (const name of Object.keys(appServices)) {
      const config = loadConfig(environment(name));
      const budget = name === 'worker' ? config.worker.shutdownGraceSeconds * 1000 + config.shutdownDeadlineMs : config.shutdownDeadlineMs;
      expect(seconds(service(name).stop_grace_period) * 1000, name).toBeGreaterThan(budget);
    }
  });

  it("checks the API's health with GET /health, and fails the check on a 503 or no answer", async () => {
    const check = service('api').healthcheck?.test ?? [];
    expect(check.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const url = `http://127.0.0.1:${environment('api').API_PORT}/health`;
    expect(check[3]).toContain(url);

    let status = 200;
    const server = http.createServer((_, res) => res.writeHead(status).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // Run as Docker runs it (asynchronously here: this process answers the check's request).
    const runCheck = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', check[3]!.replace(url, `http://127.0.0.1:${port}/health`)], { stdio: 'ignore' });
        child.once('exit', resolve);
      });
    try {
      expect(await runCheck()).toBe(0);
      status = 503;
      expect(await runCheck()).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await runCheck(), 'nothing listening').toBe(1);
  });

  it('sends every process\'s spans through the OpenTelemetry collector to Jaeger', () => {
    for (const name of Object.keys(appServices)) {
      const telemetry = loadConfig(environment(name)).telemetry;
      expect(telemetry.exporter, name).toBe('otlp');
      expect(new URL(telemetry.otlpTracesUrl).host, name).toBe('otel-collector:4318');
    }
    const collector = service('otel-collector');
    const configFile = collector.command?.find((a) => a.startsWith('--config='))?.slice('--config='.length);
    const mount = collector.volumes?.find((v) => v.split(':')[1] === configFile);
    expect(mount, `a volume mounts ${configFile}`).toBeDefined();
    const config = parse(fs.readFileSync(path.join(projectRoot, mount!.split(':')[0]!), 'utf8')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      exporters: Record<string, { endpoint: string }>;
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    };
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    const traces = config.service.pipelines.traces;
    expect(traces.receivers).toContain('otlp');
    expect(traces.exporters.map((name) => config.exporters[name]?.endpoint)).toEqual(['jaeger:4317']);
    expect(service('jaeger').image).toMatch(/^jaegertracing\/jaeger:2\./);
    expect(hostPort('jaeger', 16686)).toBe(16686);
  });

  it('prints a token that the API accepts, with a command `up` does not start', async () => {
    const token = service('token');
    expect(token.profiles).toEqual(['tools']);
    expect(token.entrypoint).toEqual(['npm', 'run', '-s', 'token', '--']);
    // What `docker compose run --rm token user-7 --admin` runs, with the service's environment.
    const [command, ...args] = [...token.entrypoint!, 'user-7', '--admin'];
    const run = spawnSync(command!, args, { cwd: projectRoot, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...environment('token') }, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const verify = createTokenVerifier(loadConfig(environment('api')).jwt, systemClock);
    await expect(verify(`Bearer ${run.stdout.trim()}`)).resolves.toMatchObject({ userId: 'user-7' });
  });
});

describe('the application services stop gracefully', () => {
  const started: number[] = [];
  afterEach(() => {
    // Whatever the command left behind (npm run leaves its child running) goes with its process group.
    for (const pid of started.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('the relay, started by its compose command, gets SIGTERM itself and closes before it exits', async () => {
    const [command, ...args] = service('relay').command!;
    const env = { ...process.env, ...testConfigEnv(), KAFKA_TOPIC_PREFIX: `${uniqueName('compose')}.` };
    // Docker sends SIGTERM to the container's main process: here, the command's own process.
    const relay = spawn(command!, args, { cwd: projectRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(relay.pid!);
    let output = '';
    relay.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    relay.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => relay.once('exit', (code) => resolve(code)));

    await expect.poll(() => output, { timeout: 30_000, interval: 200 }).toContain('outbox relay running');
    relay.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect.poll(() => output, { timeout: 5_000 }).toContain('outbox relay closed');
  });
});

/** The run's own database, as environment variables for a process the test starts. */
function testConfigEnv(): Record<string, string> {
  return { NODE_ENV: 'test', LOG_LEVEL: 'info', DATABASE_URL: testConfig().postgres.url };
}

describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
  const runtime = stages.at(-1) ?? '';

  // Node's release schedule: the end of life of each LTS line (nodejs.org/en/about/previous-releases).
  const endOfLife: Record<number, string> = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };

  it('builds on a Node LTS release that is still supported', () => {
    const majors = stages.map((s) => Number(/^FROM node:(\d+)[-.\w]*/.exec(s)?.[1]));
    expect(majors.length).toBeGreaterThan(0);
    expect(new Set(majors).size, 'every stage on the same Node').toBe(1);
    const eol = endOfLife[majors[0]!];
    expect(eol, `Node ${majors[0]} is an LTS line`).toBeDefined();
    expect(new Date(eol!).getTime(), `Node ${majors[0]} reaches its end of life on ${eol}`).toBeGreaterThan(Date.now());
  });

  it('runs as an unprivileged user, without the dev dependencies, and starts the API as compose and Kubernetes do', () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime, 'no node_modules from the build stage').not.toMatch(/COPY --from=\S+ \S*node_modules/);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(runtime)?.[1] ?? '[]') as string[];
    expect(cmd).toEqual(service('api').command);
  });
});
