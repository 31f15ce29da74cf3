import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../../config/index.js';

/**
 * Terminates every running workflow of a test run's task queues (their names carry the run's id,
 * see `uniqueName`), so that no saga a test left behind stays `Running` in the developer's Web UI.
 * Returns the ids of the workflows it terminated.
 */
export async function terminateRunWorkflows(config: Config, runId: string): Promise<string[]> {
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const terminated: string[] = [];
    for await (const workflow of client.workflow.list({ query: 'ExecutionStatus="Running"' })) {
      if (!workflow.taskQueue.includes(`-${runId}-`)) continue;
      await client.workflow
        .getHandle(workflow.workflowId, workflow.runId)
        .terminate(`test run ${runId} ended`)
        .then(() => terminated.push(workflow.workflowId))
        // It ended by itself in the meantime.
        .catch((error: unknown) => {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        });
    }
    return terminated;
  } finally {
    await connection.close();
  }
}
