import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { bundleOrderWorkflows } from '../workers/order-worker.js';

/**
 * Builds the workflow bundle once (as `npm run build:workflows` does for a release) and returns
 * what a worker process needs to start from it, as a production worker does: a worker killed
 * under load is back in a second or two instead of bundling the workflows with webpack again. The
 * secrets production requires are random and this run's own (the worker uses none of them).
 */
export async function prebuiltWorkerEnv(bundlePath: string): Promise<NodeJS.ProcessEnv> {
  const { code } = await bundleOrderWorkflows();
  fs.writeFileSync(bundlePath, code);
  return {
    NODE_ENV: 'production',
    WORKFLOW_BUNDLE_PATH: bundlePath,
    JWT_SECRET: randomBytes(32).toString('hex'),
    JWT_ISSUER: 'chaos',
    JWT_AUDIENCE: 'chaos',
    PAYMENT_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
  };
}

/** A database URL whose sessions carry the process's name (pg_stat_activity.application_name). */
export function namedDatabaseUrl(url: string, name: string): string {
  const named = new URL(url);
  named.searchParams.set('application_name', name);
  return named.toString();
}
