import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
import { toolPaths } from '../stack/tools.js';
import { orderWorkflowId } from '../workflows/definitions.js';
import { seedProduct, startApi, terminateSagas, type TestApi } from '../test/support/api.js';
import { uniqueName } from '../test/support/env.js';
import { startTestOrderWorker, type RunningTestWorker } from '../test/support/worker.js';
import { FakePaymentProvider } from '../fake-payment-provider/provider.js';
import { signDevToken } from './auth.js';

let api: TestApi;
let worker: RunningTestWorker | undefined;
let baseUrl: string;
let workDir: string;
let userId: string;
beforeAll(async () => {
  userId = uniqueName('schemathesis');
  // Limits far above what the run sends: a 429 would only keep schemathesis from the handlers.
  api = await startApi({ api: { rateLimit: { userPerMinute: 1_000_000, productsPerMinute: 1_000_000 } } });
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  await seedProduct(api.prisma);
  // The sagas of the orders it places run, as they do in the system: a cancel is answered by the saga.
  worker = await startTestOrderWorker({ config: api.config, taskQueue: api.config.temporal.taskQueue, db: api.prisma, payments: new FakePaymentProvider() });
  // Schemathesis keeps a cache of past failures in its working directory: one of its own per run.
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'schemathesis-'));
});
afterAll(async () => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  await worker?.stop();
  if (!api) return;
  // Sagas it left waiting (3-D Secure) would wait for a customer who never comes.
  const orders = await api.prisma.order.findMany({ where: { userId }, select: { id: true } });
  await terminateSagas(api.temporal, orders.map((o) => orderWorkflowId(o.id)));
  await api.close();
});

/** Runs schemathesis's CLI; resolves with its exit code and its report. */
function schemathesis(args: string[], env: Record<string, string>): Promise<{ code: number | null; report: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPaths(api.config.stack.cacheDir).schemathesis, args, {
      cwd: workDir,
      env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false', ...env },
    });
    let report = '';
    child.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (report += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, report }));
  });
}

describe('the OpenAPI document', () => {
  it('agrees with the API on every check schemathesis makes', { timeout: 180_000 }, async () => {
    // An admin, so that the admin operation is exercised past its role check.
    const token = await signDevToken(api.config.jwt, userId, undefined, ['admin']);
    const run = await schemathesis(
      [
        'run',
        `${baseUrl}/openapi.json`,
        '--checks',
        'all',
        '--header',
        `Authorization: Bearer ${token}`,
        '--max-examples',
        '60',
        '--seed',
        '1',
        // The API refuses a NUL in any text (api/plugins/text.ts: no column holds one), which the document does not state per string.
        '--generation-allow-x00',
        'false',
        // One worker: concurrent generation in threads trips a CPython 3.11 ast.parse race inside Hypothesis.
        '--workers',
        '1',
      ],
      // The hooks play by the API's rules that a schema cannot state: signed webhooks, a new Idempotency-Key per order.
      {
        SCHEMATHESIS_HOOKS: path.join(projectRoot, 'test', 'support', 'schemathesis_hooks.py'),
        PAYMENT_WEBHOOK_SECRET: api.config.paymentWebhook.secret,
      },
    );
    if (run.code !== 0) console.log(run.report);
    expect(run.code, 'schemathesis found the failures printed above').toBe(0);
  });
});
