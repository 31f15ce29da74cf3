import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Every retry and timeout policy of the saga, in one place. The numbers are the design's
 * ("Communication Best Practices"): exponential backoff from 1 s, doubling, capped at 10 s, three
 * attempts; payment processing may take 30 s. Temporal runs the retries; no code retries by hand.
 * Business refusals (out of stock, card declined, validation) are not retried: the activities
 * raise them as non-retryable failures (activities/index.ts), whatever the policy.
 */

const backoff = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' } as const;

/** Database steps (reserve, confirm, record a status): quick, so a stuck call is cut at 10 s. */
export const stepPolicy: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { ...backoff, maximumAttempts: 3 },
};

/**
 * Calls to the payment provider: 30 s each. A retry reuses the order id as the idempotency key,
 * so a call whose reply was lost (a timeout) is answered with the same charge, never a second one.
 */
export const paymentPolicy: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { ...backoff, maximumAttempts: 3 },
};

/**
 * Compensations must happen, so they get more attempts than forward steps (about a minute and a
 * half of backoff); one that still fails is recorded and fails the workflow loudly, never silently.
 */
export const compensationPolicy: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { ...backoff, maximumAttempts: 10 },
};
