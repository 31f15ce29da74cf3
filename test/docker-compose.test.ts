import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, projectRoot } from '../config/index.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  environment?: Record<string, string | number>;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
}

// Compose resolves YAML merge keys (`<<: *app`), as the application services use them.
const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const appServices = { api: 'api', worker: 'worker', relay: 'relay', subscribers: 'subscribers', payments: 'payments:fake' };
const scripts = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const defaults = loadConfig({});

function hostPort(service: string, containerPort: number): number | undefined {
  const mapping = compose.services[service]?.ports?.find((p) => p.endsWith(`:${containerPort}`));
  return mapping ? Number(mapping.split(':')[0]) : undefined;
}

describe('docker-compose.yml', () => {
  it('runs the infrastructure on real images', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'kafka']),
    );
    for (const service of Object.values(compose.services)) expect(service.image).toMatch(/^[\w./-]+:[\w.-]+$/);
  });

  it('publishes each server on the port the config module defaults to', () => {
    expect(hostPort('postgres', 5432)).toBe(defaults.postgres.port);
    expect(hostPort('temporal', 7233)).toBe(defaults.temporal.port);
    expect(hostPort('temporal-ui', 8080)).toBe(defaults.temporal.uiPort);
    expect(hostPort('kafka', 9092)).toBe(defaults.kafka.port);
  });

  it('uses the credentials and database the config module defaults to', () => {
    const env = compose.services.postgres?.environment ?? {};
    expect(env.POSTGRES_USER).toBe(defaults.postgres.user);
    expect(env.POSTGRES_PASSWORD).toBe(defaults.postgres.password);
    expect(env.POSTGRES_DB).toBe(defaults.postgres.database);
  });

  it('registers every search attribute the workflows use, with its type', () => {
    const command = (compose.services['temporal-search-attributes']?.command ?? []).join(' ');
    for (const key of orderSearchAttributes) {
      const type = key.type.charAt(0) + key.type.slice(1).toLowerCase();
      expect(command).toContain(`--name ${key.name} --type ${type}`);
    }
  });

  it('runs every application process from the one Dockerfile, each with its npm script', () => {
    expect(fs.existsSync(path.join(projectRoot, 'Dockerfile'))).toBe(true);
    for (const [service, script] of Object.entries(appServices)) {
      const app = compose.services[service];
      expect(app?.build, service).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(app?.command, service).toEqual(['npm', 'run', script]);
      expect(scripts[script], script).toBeDefined();
    }
    expect(compose.services.migrate?.command?.join(' ')).toContain('npm run db:migrate');
  });

  it('points the application at the compose servers, after the migration has run', () => {
    for (const service of ['api', 'worker', 'relay', 'subscribers']) {
      const env = compose.services[service]?.environment ?? {};
      expect(env, service).toMatchObject({ POSTGRES_HOST: 'postgres', POSTGRES_PORT: 5432, TEMPORAL_HOST: 'temporal', KAFKA_BROKERS: 'kafka:29092' });
      expect(env.POSTGRES_PASSWORD).toBe(defaults.postgres.password);
      expect(compose.services[service]?.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      // Production mode with the secrets given explicitly: the configuration must accept it as it stands.
      expect(() => loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])))).not.toThrow();
    }
  });
});
