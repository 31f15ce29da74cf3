import { ConfigError, loadConfig } from '../config/index.js';
import { StackError } from '../stack/processes.js';
import { up } from '../stack/stack.js';

/** `npm start`: the whole system on this machine, installed on first use, then its addresses. */
async function main(): Promise<void> {
  const config = loadConfig();
  await up(config, { say: (line) => console.log(`start: ${line}`) });

  console.log(`
The order saga is running.
  Temporal Web UI   ${config.temporal.uiUrl}
  Temporal server   ${config.temporal.address} (namespace ${config.temporal.namespace})
  Kafka             ${config.kafka.brokers.join(',')}
  PostgreSQL        ${config.postgres.url.replace(/:[^:@/]+@/, ':***@')}

  The Temporal CLI:  npm run stack -- temporal workflow list
  Stop everything:   npm run stack -- down`);
}

main().catch((error: unknown) => {
  if (!(error instanceof StackError || error instanceof ConfigError)) throw error;
  console.error(`start: ${error.message}`);
  process.exit(1);
});
