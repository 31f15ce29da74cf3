import { loadConfig } from '../config/index.js';
import { runProcess } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/log.js';
import { FakePaymentProvider } from './provider.js';
import { createFakeProviderServer } from './server.js';

/**
 * `npm run payments:fake`: the fake payment provider (Stripe test mode, CONTRACT §3) as a service
 * of its own, as a real provider would be. Development and tests only.
 */
const config = loadConfig();
const log = createLogger('payments', config.logLevel);
if (config.env === 'production') throw new Error('the fake payment provider does not run in production');
runProcess({ name: 'fake payment provider', log, deadlineMs: config.shutdownDeadlineMs }, async () => {
  const url = new URL(config.paymentProvider.url);
  const app = createFakeProviderServer({
    provider: new FakePaymentProvider(),
    webhook: { url: `${config.api.url}/api/v1/payments/webhook`, secret: config.paymentWebhook.secret },
  });
  await app.listen({ host: url.hostname, port: Number(url.port) });
  log.info({ url: config.paymentProvider.url }, `fake payment provider listening on ${config.paymentProvider.url}`);
  return { close: () => app.close() };
});
