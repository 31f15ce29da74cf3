import { loadConfig } from '../config/index.js';
import { initTelemetry } from '../telemetry/index.js';
import { buildApp } from './app.js';
import { createConnections } from './dependencies.js';

// `npm run api`: the gateway as a process. SIGTERM/SIGINT stop taking requests, let the running
// ones finish, then close the connections and flush the spans.
const config = loadConfig();
const telemetry = initTelemetry(config, { serviceName: config.api.serviceName });
const connections = createConnections(config);
const app = await buildApp({ config, ...connections });

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  try {
    await app.close();
    await connections.close();
    await telemetry.shutdown();
    process.exit(0);
  } catch (error) {
    app.log.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.once('SIGTERM', (signal) => void shutdown(signal));
process.once('SIGINT', (signal) => void shutdown(signal));

await app.listen({ host: config.api.host, port: config.api.port });
