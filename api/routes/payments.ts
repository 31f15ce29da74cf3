import { type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { handlePaymentWebhook } from '../payment-webhook.js';
import { paymentWebhookSchema, problems, webhookReceivedSchema } from '../schemas.js';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../domain/payments/webhook-signature.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as received: what the provider's signature covers. */
    rawBody: Buffer | null;
  }
}

/** The payment provider's callbacks, HMAC-signed over the raw body with PAYMENT_WEBHOOK_SECRET. */
const paymentRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, saga, config, clock } = app.services;

  app.decorateRequest('rawBody', null);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch (error) {
      done(Object.assign(error as Error, { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });

  app.post(
    '/payments/webhook',
    {
      schema: {
        tags: ['payments'],
        summary: "The payment provider's callback completing a payment that required action (3-D Secure)",
        headers: z.looseObject({
          [SIGNATURE_HEADER]: z
            .string()
            .regex(/^t=\d+(,v\d+=[0-9a-f]+)+$/)
            .describe('t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with PAYMENT_WEBHOOK_SECRET'),
        }),
        body: paymentWebhookSchema,
        response: { 200: webhookReceivedSchema, ...problems(400, 404, 413, 415, 503) },
      },
      // The provider's callback may carry members of its own, whatever their text; ours are only looked up.
      config: { anyTextInBody: true },
      preValidation: async (request) => {
        const header = request.headers[SIGNATURE_HEADER];
        verifyWebhookSignature(config.paymentWebhook.secret, typeof header === 'string' ? header : undefined, request.rawBody ?? Buffer.alloc(0), {
          now: clock(),
          toleranceSeconds: config.paymentWebhook.toleranceSeconds,
        });
      },
    },
    async (request) => {
      await handlePaymentWebhook({ db, saga }, { type: request.body.type, providerPaymentId: request.body.data.object.id });
      return { received: true as const };
    },
  );
};

export default paymentRoutes;
