import { loadConfig } from '../config/index.js';
import { FakePaymentProvider } from '../domain/payments/fake-provider.js';
import { createFakeProviderServer } from '../domain/payments/fake-provider-server.js';

/**
 * `npm run payments:fake`: the fake payment provider (Stripe test mode, CONTRACT §3) as a service
 * of its own, as a real provider would be. Development and tests only.
 */
const config = loadConfig();
if (config.env === 'production') throw new Error('the fake payment provider does not run in production');
const url = new URL(config.paymentProvider.url);
const app = createFakeProviderServer({
  provider: new FakePaymentProvider(),
  webhook: { url: `${config.api.url}/api/v1/payments/webhook`, secret: config.paymentWebhook.secret },
});
await app.listen({ host: url.hostname, port: Number(url.port) });
console.log(`fake payment provider listening on ${config.paymentProvider.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
