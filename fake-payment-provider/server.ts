import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { signWebhook } from '../domain/payments/webhook-signature.js';
import { isAppError } from '../domain/errors.js';
import type { FakePaymentProvider } from './provider.js';
import type { ProviderErrorBody } from '../domain/payments/http-provider.js';

export interface FakeProviderServerOptions {
  provider: FakePaymentProvider;
  /**
   * Where the provider sends its signed callbacks (our API's webhook), and the shared secret. A
   * callback the receiver does not take (no answer, or not 2xx) is delivered again after each of
   * `retryDelaysMs`, as Stripe does (for up to three days there; minutes here).
   */
  webhook?: { url: string; secret: string; retryDelaysMs?: number[] };
}

const WEBHOOK_RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];

interface ChargeParams {
  id: string;
}

/**
 * The fake provider's HTTP face, shaped like Stripe's API: what HttpPaymentProvider talks to in
 * development, so that the provider's state outlives any worker process, as a real provider's does.
 * `POST /v1/charges/:id/authenticate` plays the customer completing 3-D Secure, after which the
 * provider calls the webhook, signed.
 */
export function createFakeProviderServer({ provider, webhook }: FakeProviderServerOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const redeliveries = new Set<NodeJS.Timeout>();
  app.addHook('onClose', async () => redeliveries.forEach(clearTimeout));

  /** Sends a callback; when the receiver does not take it, sends the same event again later. */
  const deliver = async (url: string, secret: string, payload: string, retriesLeft: number[]): Promise<void> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'payment-signature': signWebhook(secret, payload, Math.floor(Date.now() / 1000)) },
      body: payload,
      signal: AbortSignal.timeout(30_000),
    }).catch(() => undefined);
    if (response?.ok) return;
    const [delay, ...later] = retriesLeft;
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      redeliveries.delete(timer);
      void deliver(url, secret, payload, later);
    }, delay);
    redeliveries.add(timer);
  };

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = isAppError(error) ? error.status : (error.statusCode ?? 500);
    const body: ProviderErrorBody = {
      error: { type: isAppError(error) ? error.type : 'api_error', message: error.message, details: isAppError(error) ? error.details : {} },
    };
    void reply.status(status).send(body);
  });

  /** Aborts a hanging call when the client gives up, as a real server stops working for a closed connection. */
  const abortOnClose = (reply: FastifyReply) => {
    const controller = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) controller.abort();
    });
    return { signal: controller.signal };
  };
  const key = (headers: Record<string, unknown>) => String(headers['idempotency-key'] ?? randomBytes(12).toString('hex'));

  app.post<{ Body: { amount: number; currency: string; token: string; reference: string } }>('/v1/charges', (request, reply) =>
    provider.charge({ ...request.body, idempotencyKey: key(request.headers) }, abortOnClose(reply)),
  );
  app.post<{ Params: ChargeParams }>('/v1/charges/:id/refund', (request) =>
    provider.refund({ chargeId: request.params.id, idempotencyKey: key(request.headers) }),
  );
  app.post<{ Params: ChargeParams }>('/v1/charges/:id/cancel', (request) =>
    provider.cancel({ chargeId: request.params.id, idempotencyKey: key(request.headers) }),
  );
  app.get<{ Params: ChargeParams }>('/v1/charges/:id', (request) => provider.retrieve(request.params.id));
  app.get<{ Querystring: { reference: string } }>('/v1/charges', (request) => ({
    data: provider.chargesFor(request.query.reference),
  }));

  app.post<{ Params: ChargeParams; Body: { outcome?: 'succeeded' | 'failed' } | undefined }>(
    '/v1/charges/:id/authenticate',
    async (request) => {
      const charge = provider.completeAuthentication(request.params.id, request.body?.outcome ?? 'succeeded');
      if (webhook) {
        const payload = JSON.stringify({
          id: `evt_${randomBytes(12).toString('hex')}`,
          type: charge.status === 'succeeded' ? 'charge.succeeded' : 'charge.failed',
          created: Math.floor(Date.now() / 1000),
          data: { object: charge },
        });
        await deliver(webhook.url, webhook.secret, payload, webhook.retryDelaysMs ?? WEBHOOK_RETRY_DELAYS_MS);
      }
      return charge;
    },
  );
  return app;
}
