import { NotFoundError } from '../domain/errors.js';
import { type Database } from './database.js';
import { type OrderSagaGateway } from './order-saga-client.js';
import { isStorableText } from './plugins/text.js';

/** The provider's event types that complete a payment that required the customer's action. */
const outcomes: Record<string, boolean> = {
  'charge.succeeded': true,
  'charge.failed': false,
};

export interface PaymentWebhookEvent {
  type: string;
  providerPaymentId: string;
}

/**
 * A verified callback from the payment provider: tells the order's saga how the payment ended.
 * The order is found through our own payment record, never through what the callback claims;
 * a payment we do not know (yet) is 404, so the provider delivers the callback again later.
 * Other event types are acknowledged and ignored, as providers expect.
 */
export async function handlePaymentWebhook(
  deps: { db: Database; saga: OrderSagaGateway },
  event: PaymentWebhookEvent,
): Promise<void> {
  const succeeded = outcomes[event.type];
  if (succeeded === undefined) return;
  // No payment id of ours holds text PostgreSQL cannot (NUL, a lone surrogate): such a payment is not ours either.
  if (!isStorableText(event.providerPaymentId)) throw new NotFoundError('payment', event.providerPaymentId);
  const payment = await deps.db.run((db) =>
    db.payment.findFirst({ where: { providerPaymentId: event.providerPaymentId }, select: { orderId: true } }),
  );
  if (!payment) throw new NotFoundError('payment', event.providerPaymentId);
  await deps.saga.confirmPayment(payment.orderId, { providerPaymentId: event.providerPaymentId, succeeded });
}
