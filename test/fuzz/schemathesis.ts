import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../config/index.js';
import { toolPaths } from '../../stack/tools.js';
import { signDevToken } from '../../api/auth.js';
import { type FuzzTarget } from './target.js';

export interface SchemathesisRun {
  code: number | null;
  /** Its console report (its summary at the end). */
  output: string;
}

/**
 * Schemathesis on the API's own OpenAPI document, through the recording proxy: the phases asked
 * for (examples, coverage, fuzzing, and stateful, which follows the document's links), positive
 * and negative data, every check, as an admin so that no operation stops at its role check.
 */
export async function runSchemathesis(target: FuzzTarget, options: { maxExamples: number; seed: number; phases: string; maxSeconds?: number }): Promise<SchemathesisRun> {
  const { config } = target.api;
  const token = await signDevToken(config.jwt, `fuzz-${options.seed}`, new Date(Date.now() + 6 * 60 * 60 * 1000), ['admin']);
  // Schemathesis keeps a cache of past failures in its working directory: one of its own per run.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'schemathesis-fuzz-'));
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(
        toolPaths(config.stack.cacheDir).schemathesis,
        [
          'run',
          `${target.baseUrl}/openapi.json`,
          '--checks',
          'all',
          '--header',
          `Authorization: Bearer ${token}`,
          '--phases',
          options.phases,
          '--mode',
          'all',
          '--max-examples',
          String(options.maxExamples),
          '--seed',
          String(options.seed),
          '--generation-database',
          'none',
          '--continue-on-failure',
          // The API refuses a NUL in any text (api/plugins/text.ts), which the document does not state per
          // string; the hand-made cases send a NUL in every field and check each refusal.
          '--generation-allow-x00',
          'false',
          // One worker: concurrent generation in threads trips a CPython 3.11 ast.parse race inside Hypothesis.
          '--workers',
          '1',
          '--request-timeout',
          '60',
          ...(options.maxSeconds ? ['--max-time', String(options.maxSeconds)] : []),
        ],
        {
          cwd: workDir,
          env: {
            ...process.env,
            NO_COLOR: '1',
            SCHEMATHESIS_TELEMETRY: 'false',
            // The hooks play by the API's rules that a schema cannot state: signed webhooks, a new Idempotency-Key per order.
            SCHEMATHESIS_HOOKS: path.join(projectRoot, 'test', 'support', 'schemathesis_hooks.py'),
            PAYMENT_WEBHOOK_SECRET: config.paymentWebhook.secret,
          },
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
