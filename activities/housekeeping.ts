import { log } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { inSqlTransaction, type Db } from '../db/prisma.js';
import type { Clock } from '../domain/clock.js';
import { expireReservations, releaseReservation } from '../domain/inventory.js';
import { advanceOrder, listPendingOrders } from '../domain/orders.js';
import { orderSagaType, orderWorkflowId, type FailureReason } from '../workflows/definitions.js';
import { orderSagaStartOptions } from '../workflows/saga-start.js';

export interface HousekeepingDeps {
  db: Db;
  clock: Clock;
  /** A client of the Temporal server the sagas run on, and the task queue their worker polls. */
  temporal: Client;
  taskQueue: string;
  /** How long an order may stay pending before its saga is looked for: its request normally starts it within a second. */
  pendingGraceMs: number;
  /** At most this many orders, and as many reservations, per run. */
  batchSize?: number;
}

/** Why an order is failed whose saga ended without deciding it (terminated by hand): it can never run again. */
const SAGA_ENDED: FailureReason = 'processing_error';

/**
 * The housekeeping schedule's steps (workflows/housekeeping.ts): they find what a lost request or
 * an ended saga left behind and finish it, idempotently, so that overlapping or repeated runs do no
 * harm.
 */
export function createHousekeepingActivities(deps: HousekeepingDeps) {
  const batchSize = deps.batchSize ?? 100;
  const orderDeps = { db: deps.db, clock: deps.clock };

  const sagaOf = async (orderId: string): Promise<'running' | 'ended' | 'none'> => {
    try {
      const { status } = await deps.temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
      return status.name === 'RUNNING' ? 'running' : 'ended';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'none';
      throw error;
    }
  };

  return {
    /**
     * Starts the saga of every order pending for longer than the grace period that has none (one the
     * API starts meanwhile is not started twice: USE_EXISTING). An order still pending whose saga
     * has ended can never be decided by it: it is failed, its stock released.
     */
    async startSagasOfPendingOrders(): Promise<{ sagasStarted: string[]; ordersFailed: string[] }> {
      const placedBefore = new Date(deps.clock().getTime() - deps.pendingGraceMs);
      const sagasStarted: string[] = [];
      const ordersFailed: string[] = [];
      for (const order of await listPendingOrders(deps.db, { placedBefore, limit: batchSize })) {
        const saga = await sagaOf(order.id);
        if (saga === 'none') {
          try {
            await deps.temporal.workflow.start(orderSagaType, orderSagaStartOptions(order, deps.taskQueue));
            sagasStarted.push(order.id);
          } catch (error) {
            if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
          }
        } else if (saga === 'ended') {
          log.warn('an order is pending but its saga has ended: failing it', { orderId: order.id });
          await inSqlTransaction(deps.db, async (tx) => {
            await releaseReservation({ ...orderDeps, db: tx }, { orderId: order.id, reason: SAGA_ENDED });
            await advanceOrder({ ...orderDeps, db: tx }, { orderId: order.id, to: 'failed', reason: SAGA_ENDED });
          });
          ordersFailed.push(order.id);
        }
      }
      return { sagasStarted, ordersFailed };
    },

    /** Returns the stock of expired reservations whose order has no running saga left to release them. */
    expireAbandonedReservations: (): Promise<string[]> =>
      expireReservations(orderDeps, { batchSize, stillHeld: async (orderId) => (await sagaOf(orderId)) === 'running' }),
  };
}

export type HousekeepingActivities = ReturnType<typeof createHousekeepingActivities>;
