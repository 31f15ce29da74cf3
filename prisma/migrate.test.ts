import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig, uniqueName, withDatabaseClient } from '../test/support/env.js';
import { applyMigrations, defaultMigrationsDir, MigrationError, readMigrations } from './migrate.js';

const created: string[] = [];

/** An empty database of its own, dropped after the file's tests. */
async function emptyDatabase(): Promise<string> {
  const name = uniqueName('migrate').replaceAll('-', '_');
  await withDatabaseClient((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  created.push(name);
  const url = new URL(testConfig().postgres.url);
  url.pathname = `/${name}`;
  return url.toString();
}

afterAll(() =>
  withDatabaseClient(async (c) => {
    for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
  }),
);

async function migrationRows(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT * FROM "_prisma_migrations" ORDER BY started_at')).rows;
  } finally {
    await client.end();
  }
}

describe('applyMigrations', () => {
  it('applies every migration once and records it as prisma migrate deploy does', async () => {
    const url = await emptyDatabase();
    const local = await readMigrations();

    expect(await applyMigrations(url)).toEqual(local.map((m) => m.name));
    expect(await applyMigrations(url)).toEqual([]);

    const rows = await migrationRows(url);
    expect(rows).toHaveLength(local.length);
    for (const [i, row] of rows.entries()) {
      const script = await fs.readFile(path.join(defaultMigrationsDir, local[i]!.name, 'migration.sql'));
      expect(row).toMatchObject({
        migration_name: local[i]!.name,
        checksum: createHash('sha256').update(script).digest('hex'),
        logs: null,
        rolled_back_at: null,
        applied_steps_count: 1,
      });
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
    }
  });

  it('applies once when two appliers race', async () => {
    const url = await emptyDatabase();
    const [a, b] = await Promise.all([applyMigrations(url), applyMigrations(url)]);
    expect([...a, ...b]).toEqual((await readMigrations()).map((m) => m.name));
    expect(await migrationRows(url)).toHaveLength((await readMigrations()).length);
  });

  it('refuses a database whose applied migration was edited since', async () => {
    const url = await emptyDatabase();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    await fs.cp(defaultMigrationsDir, dir, { recursive: true });
    await applyMigrations(url, { migrationsDir: dir });
    const [first] = await readMigrations(dir);
    await fs.appendFile(path.join(dir, first!.name, 'migration.sql'), '\n-- edited after it was applied\n');

    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow(MigrationError);
    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow(/was modified after it was applied/);
    await fs.rm(dir, { recursive: true });
  });

  it('rolls a failing migration back entirely and records the failure', async () => {
    const url = await emptyDatabase();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    await fs.mkdir(path.join(dir, '20990101000000_broken'));
    await fs.writeFile(path.join(dir, '20990101000000_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT nonsense;\n');

    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow(/20990101000000_broken failed/);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(`SELECT to_regclass('half_done') AS table`);
    await client.end();
    expect(rows[0].table).toBeNull();
    const [record] = await migrationRows(url);
    expect(record).toMatchObject({ migration_name: '20990101000000_broken', finished_at: null, applied_steps_count: 0 });
    expect(record.rolled_back_at).toBeInstanceOf(Date);
    expect(record.logs).toMatch(/nonsense/);
    await fs.rm(dir, { recursive: true });
  });
});
