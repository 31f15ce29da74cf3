import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { loadConfig, projectRoot } from '../config/index.js';

/**
 * Applies the migrations in `prisma/migrations` the way `prisma migrate deploy` would, for machines
 * where Prisma's schema engine cannot run: same folder format, same `_prisma_migrations` table and
 * checksums, same advisory lock, so either tool can take over from the other.
 */

export const defaultMigrationsDir = path.join(projectRoot, 'prisma', 'migrations');

// The key Prisma's schema engine locks on: our applier and `prisma migrate deploy` exclude each other.
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

// Exactly the table Prisma's schema engine creates.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface LocalMigration {
  name: string;
  script: string;
  checksum: string;
}

interface AppliedMigration {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** The SHA-256 of a migration script, hex: what Prisma stores in `_prisma_migrations.checksum`. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script).digest('hex');
}

/** The migrations of a folder, oldest first (Prisma orders them by their timestamped names). */
export async function readMigrations(migrationsDir: string = defaultMigrationsDir): Promise<LocalMigration[]> {
  const entries = await fs.readdir(migrationsDir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const script = await fs.readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      return { name, script, checksum: migrationChecksum(script) };
    }),
  );
}

function refuseDivergence(local: LocalMigration[], applied: AppliedMigration[]): void {
  const byName = new Map(local.map((m) => [m.name, m]));
  for (const row of applied) {
    if (row.rolled_back_at) continue;
    if (!row.finished_at) {
      throw new MigrationError(
        `migration ${row.migration_name} failed earlier and is not marked rolled back; ` +
          `fix the database, then run \`prisma migrate resolve --rolled-back ${row.migration_name}\``,
      );
    }
    const mine = byName.get(row.migration_name);
    if (!mine) {
      throw new MigrationError(`migration ${row.migration_name} is applied to the database but missing from the migrations folder`);
    }
    if (mine.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.migration_name} was modified after it was applied (checksum ${row.checksum} in the database, ` +
          `${mine.checksum} on disk); add a new migration instead of editing an applied one`,
      );
    }
  }
}

/**
 * Applies every migration not yet applied, oldest first, each in its own transaction, and records
 * it in `_prisma_migrations`. Refuses when an applied migration was edited, is missing, or failed.
 * Returns the names of the migrations it applied.
 */
export async function applyMigrations(
  databaseUrl: string,
  options: { migrationsDir?: string } = {},
): Promise<string[]> {
  const local = await readMigrations(options.migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows: applied } = await client.query<AppliedMigration>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    refuseDivergence(local, applied);

    const done = new Set(applied.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => r.migration_name));
    const appliedNow: string[] = [];
    for (const migration of local.filter((m) => !done.has(m.name))) {
      const id = randomUUID();
      try {
        await client.query('BEGIN');
        await client.query(migration.script);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
          [id, migration.checksum, migration.name],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        // Recorded as Prisma records a failure; the transaction undid it, so it is also rolled back.
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, rolled_back_at, applied_steps_count)
           VALUES ($1, $2, $3, $4, now(), 0)`,
          [id, migration.checksum, migration.name, String(error)],
        );
        throw new MigrationError(`migration ${migration.name} failed and was rolled back: ${String(error)}`, { cause: error });
      }
      appliedNow.push(migration.name);
    }
    return appliedNow;
  } finally {
    // Ending the session releases the advisory lock.
    await client.end();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const applied = await applyMigrations(loadConfig().postgres.url);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
}
