import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../config/index.js';
import { bundleOrderWorkflows, replaySinks } from '../workers/order-worker.js';

const usage = `usage: npm run replay -- <workflow-id | history.json>...
Replays each history against the current workflow code; exits 1 when any replay is nondeterministic.
A workflow id is fetched from the Temporal server in the config; a file is the JSON that
\`temporal workflow show -w <id> -o json\` writes.`;

async function histories(sources: string[]): Promise<{ workflowId: string; history: unknown }[]> {
  const config = loadConfig();
  let client: Client | undefined;
  const result = [];
  for (const source of sources) {
    if (fs.existsSync(source)) {
      result.push({ workflowId: source, history: JSON.parse(fs.readFileSync(source, 'utf8')) as unknown });
      continue;
    }
    client ??= new Client({ connection: await Connection.connect(config.temporal.connection), namespace: config.temporal.namespace });
    result.push({ workflowId: source, history: await client.workflow.getHandle(source).fetchHistory() });
  }
  await client?.connection.close();
  return result;
}

async function main(sources: string[]): Promise<number> {
  if (!sources.length || sources.includes('--help')) {
    console.error(usage);
    return sources.length ? 0 : 2;
  }
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const workflowBundle = await bundleOrderWorkflows();
  let failures = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle, sinks: replaySinks() }, await histories(sources))) {
    if (result.error) {
      failures += 1;
      console.error(`FAIL ${result.workflowId}: ${result.error.message}`);
    } else {
      console.log(`ok   ${result.workflowId}`);
    }
  }
  return failures ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`replay: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
