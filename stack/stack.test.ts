import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../config/index.js';
import { freePort } from '../test/support/env.js';
import { down, status, up } from './stack.js';


/** Runs the stack CLI as a user would, in an environment of its own. */
function stackCli(args: string[], env: NodeJS.ProcessEnv) {
  const result = spawnSync(path.join(projectRoot, 'node_modules/.bin/tsx'), ['stack/cli.ts', ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

describe('the stack command', () => {
  it('names a taken port and the variable that moves it, in one line', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const result = stackCli(['up', 'postgres'], { STACK_STATE_DIR: tempDir('stack-port-'), POSTGRES_PORT: String(port) });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        `stack: port ${port} on 127.0.0.1 (postgres) is already in use by another process; stop it or set POSTGRES_PORT to a free port`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it('names a missing prerequisite in one line', () => {
    // A cache with nothing built and a PATH with node alone: the first tool to build needs Go.
    const result = stackCli(['up'], {
      STACK_STATE_DIR: tempDir('stack-prereq-'),
      STACK_CACHE_DIR: tempDir('stack-cache-'),
      PATH: path.dirname(process.execPath),
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'stack: missing prerequisite: go (builds the Temporal CLI 1.5.1 dev server); install it and run again',
    ]);
  });

  it('shows starting a server as a phase with its elapsed time, in plain lines when not on a terminal', async () => {
    const env = { STACK_STATE_DIR: tempDir('stack-progress-'), POSTGRES_PORT: String(await freePort()) };
    try {
      const result = stackCli(['up', 'postgres'], env);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines).toContain('stack: starting postgres …');
      expect(lines.some((line) => /^stack: starting postgres: done after \d+ s$/.test(line))).toBe(true);
      expect(result.stdout).not.toContain('\r');
    } finally {
      stackCli(['down'], env);
      const elsewhere = path.join(env.STACK_STATE_DIR, 'postgres-location');
      if (fs.existsSync(elsewhere)) fs.rmSync(fs.readFileSync(elsewhere, 'utf8').trim(), { recursive: true, force: true });
    }
  });

  it('refuses an unknown service by name', () => {
    const result = stackCli(['up', 'redis'], {});
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('stack: unknown service \'redis\'; the services are postgres, kafka, temporal, zipkin');
  });
});

describe('a stack of its own', () => {
  it('keeps PostgreSQL, Kafka and Temporal data across down and up', async () => {
    const stateDir = tempDir('stack-own-');
    const config = loadConfig({
      ...process.env,
      STACK_STATE_DIR: stateDir,
      POSTGRES_PORT: String(await freePort()),
      KAFKA_PORT: String(await freePort()),
      KAFKA_CONTROLLER_PORT: String(await freePort()),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
    });
    try {
      expect((await up(config)).started).toEqual(['postgres', 'kafka', 'temporal']);
      expect((await up(config)).started).toEqual([]);

      const db = new pg.Client({ connectionString: config.postgres.url });
      await db.connect();
      await db.query('CREATE TABLE kept (note text)');
      await db.query("INSERT INTO kept VALUES ('survives a restart')");
      await db.end();

      const kafka = new Kafka({ brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'kept' }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic: 'kept', messages: [{ key: 'k', value: 'survives a restart' }] });
      await producer.disconnect();

      let connection = await Connection.connect({ address: config.temporal.address });
      await new Client({ connection }).workflow.start('NeverPolled', { taskQueue: 'nobody', workflowId: 'kept' });
      await connection.close();

      expect(await down(config)).toEqual(['temporal', 'kafka', 'postgres']);
      expect((await status(config)).map((s) => s.pid)).toEqual([undefined, undefined, undefined]);
      expect((await up(config)).started).toEqual(['postgres', 'kafka', 'temporal']);

      const db2 = new pg.Client({ connectionString: config.postgres.url });
      await db2.connect();
      expect((await db2.query('SELECT note FROM kept')).rows).toEqual([{ note: 'survives a restart' }]);
      await db2.end();

      const consumer = kafka.consumer({ groupId: 'kept-reader' });
      await consumer.connect();
      await consumer.subscribe({ topic: 'kept', fromBeginning: true });
      const value = await new Promise<string | undefined>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString()) });
      });
      await consumer.disconnect();
      expect(value).toBe('survives a restart');

      connection = await Connection.connect({ address: config.temporal.address });
      const described = await new Client({ connection }).workflow.getHandle('kept').describe();
      await connection.close();
      expect(described.status.name).toBe('RUNNING');
    } finally {
      await down(config);
      const elsewhere = path.join(stateDir, 'postgres-location');
      if (fs.existsSync(elsewhere)) fs.rmSync(fs.readFileSync(elsewhere, 'utf8').trim(), { recursive: true, force: true });
    }
  }, 240_000);
});
