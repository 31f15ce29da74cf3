import { proxyActivities } from '@temporalio/workflow';
import type { HousekeepingActivities } from '../activities/housekeeping.js';
import type { HousekeepingReport } from './definitions.js';
import { housekeepingPolicy } from './policies.js';

const { startSagasOfPendingOrders, expireAbandonedReservations } = proxyActivities<HousekeepingActivities>(housekeepingPolicy);

/**
 * The backstop that the housekeeping schedule runs every minute (workers/housekeeping-schedule.ts):
 * starts the saga of every order left pending without one (its request died after writing it, or
 * lost the answer to its start), fails one whose saga ended without deciding it, and returns to
 * stock the expired reservations that no running saga will release any more.
 */
export async function OrderHousekeeping(): Promise<HousekeepingReport> {
  const pending = await startSagasOfPendingOrders();
  const reservationsExpired = await expireAbandonedReservations();
  return { ...pending, reservationsExpired };
}
