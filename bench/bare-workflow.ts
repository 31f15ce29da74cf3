import { proxyActivities } from '@temporalio/workflow';
import type { BareActivities } from './bare-activities.js';

const { step } = proxyActivities<BareActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });

/** The ceiling the saga is measured against: as many activity steps as the saga's happy path, doing nothing. */
export async function BareSaga(): Promise<string> {
  await step('reserve');
  await step('charge');
  await step('confirm');
  return 'confirmed';
}
