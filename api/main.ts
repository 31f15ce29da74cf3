import '../telemetry/instrumentations.js';
import { loadConfig } from '../config/index.js';
import { runProcess } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/log.js';
import { initTelemetry } from '../telemetry/index.js';
import { buildApp } from './app.js';
import { createConnections } from './dependencies.js';

/**
 * `npm run api`: the gateway as a process. On SIGTERM or SIGINT it stops taking requests, lets the
 * running ones finish, then closes the connections and flushes the spans.
 */
const config = loadConfig();
const log = createLogger('api', config.logLevel);
runProcess({ name: 'api', log, deadlineMs: config.shutdownDeadlineMs }, async () => {
  const telemetry = initTelemetry(config, { serviceName: config.api.serviceName });
  await telemetry.serveMetrics({ host: config.metrics.host, port: config.metrics.ports.api, log });
  const connections = createConnections(config);
  const app = await buildApp({ config, ...connections, logger: log });
  await app.listen({ host: config.api.host, port: config.api.port });
  return {
    close: async () => {
      await app.close();
      await connections.close();
      await telemetry.shutdown();
    },
  };
});
