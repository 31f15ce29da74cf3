import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createDatabase } from '../db/databases.js';
import type { TestProject } from 'vitest/node';
import { loadConfig, projectRoot } from '../config/index.js';
import { down, stackDirs, up, type ServiceName } from '../stack/stack.js';
import { consoleSay } from '../stack/progress.js';
import { ensureChromium, ensureSchemathesis } from '../stack/tools.js';
import { terminateRunWorkflows } from './support/temporal.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A database made for this run alone, migrated to the current schema. */
    databaseUrl: string;
    /** Unique per run: prefix for Kafka topics, Temporal task queues and ids, so runs never meet. */
    runId: string;
  }
}

/**
 * Brings the stack up once for the whole run (reusing one that already runs), gives the run fresh
 * data (its own database, its own id for topics and task queues); at the end, terminates the
 * workflows its task queues still run and stops what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const say = consoleSay('stack: ');
  const { started } = await up(config, { say });
  await ensureChromium(stackDirs(config).logDir, say);
  await ensureSchemathesis(config.stack.cacheDir, stackDirs(config).logDir, say);

  const runId = `t${Date.now().toString(36)}${process.pid.toString(36)}`;
  const database = `order_saga_test_${runId}`;
  const databaseUrl = await createDatabase(config.postgres.url, database);
  if (fs.existsSync(path.join(projectRoot, 'prisma', 'migrate.ts'))) {
    const { applyMigrations } = await import('../prisma/migrate.js');
    await applyMigrations(databaseUrl);
  }

  project.provide('databaseUrl', databaseUrl);
  project.provide('runId', runId);

  // After the run, on stderr: the summary line (`N passed, N failed`) stays the last line on stdout.
  const sayAfter = consoleSay('stack: ', process.stderr);
  return async () => {
    await terminateRunWorkflows(config, runId).then(
      (terminated) => terminated.length && sayAfter(`terminated ${terminated.length} workflow(s) the tests left running`),
      // The database is dropped and the stack stopped all the same.
      (error: Error) => sayAfter(`could not terminate the workflows the tests left running: ${error.message}`),
    );
    const cleanup = new pg.Client({ connectionString: config.postgres.url });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${cleanup.escapeIdentifier(database)} WITH (FORCE)`);
    await cleanup.end();
    if (started.length) await down(config, started as ServiceName[]);
  };
}
