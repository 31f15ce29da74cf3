import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, bundleWorkflowCode, Runtime } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../config/index.js';
import { bundleOrderWorkflows, replaySinks } from '../workers/order-worker.js';

/**
 * The committed histories must replay against the current workflow code: a change that would break
 * running sagas fails here first. `histories/*.json` are this code's (one per saga path, and one per
 * point where a saga waits, written by order-saga.test.ts with UPDATE_HISTORIES=1);
 * `histories/released/<commit>/` are those a release left, kept as they were (README, "Changing the
 * workflow").
 */
const historiesDir = path.join(import.meta.dirname, 'histories');

function readHistories(dir: string) {
  return fs
    .readdirSync(path.join(historiesDir, dir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(dir, f))
    .map((f) => ({ workflowId: f, history: JSON.parse(fs.readFileSync(path.join(historiesDir, f), 'utf8')) as unknown }));
}

const released = fs.readdirSync(path.join(historiesDir, 'released')).map((release) => path.join('released', release));
const histories = ['', ...released].flatMap(readHistories);

/**
 * The sagas release 4e9eb24 took past a "still pending" answer to the 3-D Secure webhook (it failed
 * them, then compensated). cfafa37 made that answer a wait instead, without patched(), and shipped
 * in 63a8a76: no code can replay both, since neither history carries a marker and they are alike up
 * to that point. The running release's sagas on the new path are the ones kept replaying; a saga
 * 4e9eb24 left in that state is reset instead (README, "Changing the workflow").
 */
const lostToAnUnpatchedChange = [
  'released/4e9eb24/three-d-secure-early-webhook-compensating.json',
  'released/4e9eb24/three-d-secure-early-webhook-failed.json',
];

async function replayAll(workflowBundle: Awaited<ReturnType<typeof bundleOrderWorkflows>>) {
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle, sinks: replaySinks() }, histories)) results.push(result);
  return results;
}

describe('replaying committed saga histories', () => {
  it('has a history for every path of the saga and every point where it waits', () => {
    expect(readHistories('').map((h) => h.workflowId).sort()).toEqual([
      'cancelled-awaiting-payment.json',
      'cancelled-through-temporal-while-charging.json',
      'cancelled-through-temporal.json',
      'cancelled-while-charging.json',
      'compensation-failed.json',
      'confirmed-while-cancelled-through-temporal.json',
      'confirmed.json',
      'open-awaiting-payment-after-early-webhook.json',
      'open-awaiting-payment.json',
      'open-charging.json',
      'open-compensating-cancel.json',
      'open-compensating-declined.json',
      'open-compensating-payment-timeout.json',
      'open-completing-payment.json',
      'open-confirming.json',
      'out-of-stock.json',
      'payment-declined.json',
      'payment-processing-error-retried.json',
      'payment-timeout-retried.json',
      'three-d-secure-confirmed-at-deadline.json',
      'three-d-secure-confirmed.json',
      'three-d-secure-early-webhook.json',
      'three-d-secure-refunded-at-deadline.json',
      'three-d-secure-timeout.json',
      'three-d-secure-webhook-during-pending-answer.json',
    ]);
  });

  it('replays every one against the current workflow code', async () => {
    const results = await replayAll(await bundleOrderWorkflows());
    const outcome = (workflowId: string, error?: Error) => [workflowId, error instanceof DeterminismViolationError ? 'nondeterministic' : error?.message];
    expect(results.map((r) => outcome(r.workflowId, r.error))).toEqual(
      histories.map((h) => [h.workflowId, lostToAnUnpatchedChange.includes(h.workflowId) ? 'nondeterministic' : undefined]),
    );
  }, 120_000);

  it('replays from the CLI (npm run replay) without an error line', () => {
    const run = spawnSync('npx', ['tsx', 'scripts/replay.ts', path.join(historiesDir, 'confirmed.json')], { cwd: projectRoot, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('ok   ');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/ERROR/);
  }, 120_000);

  it('fails when a step of the workflow moves (charging before reserving)', async () => {
    // A copy of the workflow code, inside the project so that it resolves the same packages.
    const mutant = path.join(loadConfig().stack.stateDir, 'replay-mutant');
    fs.rmSync(mutant, { recursive: true, force: true });
    fs.cpSync(import.meta.dirname, mutant, { recursive: true, filter: (src) => !src.includes('histories') });
    const sagaFile = path.join(mutant, 'order-saga.ts');
    const original = fs.readFileSync(sagaFile, 'utf8');
    const reserveLine = /^(\s*)const reservation = await steps\.reserveInventory\(context\)/m;
    const moved = original.replace(reserveLine, '$1await payments.chargePayment({ ...context, token: input.payment.token });\n$&');
    expect(moved).not.toBe(original);
    fs.writeFileSync(sagaFile, moved.replaceAll("'../", "'../../"));

    const workflowBundle = await bundleWorkflowCode({ workflowsPath: path.join(mutant, 'index.ts'), logger: Runtime.instance().logger });
    const results = await replayAll(workflowBundle);

    const broken = results.filter((r) => r.error instanceof DeterminismViolationError).map((r) => r.workflowId);
    expect(broken.sort()).toEqual(histories.map((h) => h.workflowId).sort());
    fs.rmSync(mutant, { recursive: true, force: true });
  }, 120_000);
});
