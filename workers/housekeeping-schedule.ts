import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { housekeepingType } from '../workflows/definitions.js';

/** One schedule per task queue: each deployment's (or test run's) workers keep their own. */
export function housekeepingScheduleId(taskQueue: string): string {
  return `order-housekeeping-${taskQueue}`;
}

/**
 * Creates, unless it exists, the Temporal Schedule that runs OrderHousekeeping on the worker's task
 * queue every `intervalSeconds`: the durable backstop for orders and reservations that a lost
 * request or an ended saga left behind. Every worker calls it when it starts; the schedule id makes
 * one schedule of all the calls. A run still going when the next is due makes that one skip, and a
 * run that cannot finish (no worker) gives way after ten minutes.
 */
export async function ensureHousekeepingSchedule(
  client: Client,
  options: { taskQueue: string; intervalSeconds: number },
): Promise<string> {
  const scheduleId = housekeepingScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: `${options.intervalSeconds} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: housekeepingType,
        workflowId: scheduleId,
        taskQueue: options.taskQueue,
        args: [],
        workflowExecutionTimeout: '10 minutes',
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  return scheduleId;
}
