import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/**
 * Every retry and timeout policy of the saga, in one place. The numbers are the design's
 * ("Communication Best Practices"): exponential backoff from 1 s, doubling, capped at 10 s, three
 * attempts for a forward step; payment processing may take 30 s. Compensations are retried until
 * they succeed (CONTRACT §3). Temporal runs the retries; no code retries by hand.
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
 * The same database steps as local activities (reserve and confirm, for sagas begun since
 * `local-database-steps`): each is one short, idempotent PostgreSQL transaction, so the worker runs
 * it inside the workflow task that asked for it, with no round trip through the server's task
 * queues (a bare three-step workflow: p50 37 → 26 ms). Not local: the calls to the payment provider
 * (up to 30 s, and their pending attempts should show in the Web UI), and the compensations (retried
 * without limit, each attempt visible in the Web UI as the saga's pending activity).
 */
export const localStepPolicy: LocalActivityOptions = {
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
 * The housekeeping activities: a scan and its follow-ups, each bounded by a batch size. A run that
 * keeps failing gives up, and the next scheduled run tries again.
 */
export const housekeepingPolicy: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { ...backoff, maximumAttempts: 3 },
};

/**
 * Compensations must happen: a failure that may pass (the provider or the database down for a
 * while) is retried for as long as it takes, backing off to one attempt a minute, and the Web UI
 * shows the pending attempt with its last failure. Only a non-retryable failure, a refusal no retry
 * can change, ends the attempts: the saga records it and fails loudly (CompensationFailed).
 */
export const compensationPolicy: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { ...backoff, maximumInterval: '1 minute' },
};
