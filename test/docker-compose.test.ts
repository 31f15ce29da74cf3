import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, projectRoot } from '../config/index.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';

interface ComposeService {
  image?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  command?: string[];
}

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
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
});
