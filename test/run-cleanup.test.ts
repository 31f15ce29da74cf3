import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { testConfig } from './support/env.js';

const exec = promisify(execFile);

it("a test run leaves no workflow of its task queues running in the developer's Web UI", async () => {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'run-cleanup-')), 'started.json');
  // A run of its own (global setup and teardown included) of a suite file that leaves a saga running.
  await exec(path.join(projectRoot, 'node_modules', '.bin', 'vitest'), ['run', '--config', 'test/fixtures/run-cleanup/vitest.config.ts'], {
    cwd: projectRoot,
    env: { ...process.env, RUN_CLEANUP_REPORT: report },
  });
  const { taskQueue, workflowId } = JSON.parse(fs.readFileSync(report, 'utf8')) as { taskQueue: string; workflowId: string };
  fs.rmSync(path.dirname(report), { recursive: true, force: true });

  const config = testConfig();
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('TERMINATED');
    const running = [];
    for await (const workflow of client.workflow.list({ query: `TaskQueue="${taskQueue}" AND ExecutionStatus="Running"` })) running.push(workflow.workflowId);
    expect(running).toEqual([]);
  } finally {
    await connection.close();
  }
});
