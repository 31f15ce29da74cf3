import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/support/env.js';
import { createPrisma } from '../../db/prisma.js';
import { systemClock } from '../clock.js';
import { IllegalTransitionError, PaymentDeclinedError, PaymentPendingError, ValidationError } from '../errors.js';
import { createStockedProduct, outboxEvents, placeOrder } from '../../test/support/domain.js';
import { FakePaymentProvider, testTokens } from '../../fake-payment-provider/provider.js';
import { chargePayment, confirmPayment, getPayment, refundPayment, reversePayment } from './payments.js';

const prisma = createPrisma(testConfig().postgres.url);
afterAll(() => prisma.$disconnect());

async function setup(price = '29.99', provider = new FakePaymentProvider({ hangMs: 60_000 })) {
  const deps = { db: prisma, provider, clock: systemClock };
  const product = await createStockedProduct(prisma, { units: [5], price });
  const order = await placeOrder(prisma, systemClock, [{ productId: product.productId, quantity: 2 }]);
  const charge = (token: string, options = {}) =>
    chargePayment(deps, { order, token }, options);
  const events = async (type: string) => (await outboxEvents(prisma, order.id)).filter((e) => e.event_type === type);
  return { provider, deps, order, charge, events };
}

describe('chargePayment', () => {
  it('charges tok_visa once however often it is called, with one payment.success', async () => {
    const { provider, order, charge, events } = await setup();

    const first = await charge(testTokens.visa);
    const second = await charge(testTokens.visa);

    expect(first).toMatchObject({ status: 'succeeded', amount: '59.98', currency: 'USD', provider: 'fake' });
    expect(first.transactionId).toMatch(/^TXN-\d{4}-\d{5,}$/);
    expect(second).toEqual(first);
    expect(provider.chargeCount(order.id)).toBe(1);
    expect(await prisma.payment.count({ where: { orderId: order.id } })).toBe(1);
    const [success] = await events('payment.success');
    expect(success?.data).toEqual({
      payment_id: first.paymentId,
      order_id: order.id,
      transaction_id: first.transactionId,
      amount: 59.98,
      currency: 'USD',
      payment_method: 'credit_card',
      provider: 'fake',
      provider_transaction_id: first.providerPaymentId,
    });
    expect(await events('payment.success')).toHaveLength(1);
  });

  it.each([
    [testTokens.chargeDeclined, 'card_declined'],
    [testTokens.insufficientFunds, 'insufficient_funds'],
  ])('records %s as failed with payment.failed and refuses it for good', async (token, declineCode) => {
    const { order, charge, events } = await setup();

    await expect(charge(token)).rejects.toMatchObject({ type: 'PaymentDeclined', retryable: false, details: { declineCode } });
    await expect(charge(token)).rejects.toBeInstanceOf(PaymentDeclinedError);

    expect((await getPayment(prisma, order.id))?.status).toBe('failed');
    const failed = await events('payment.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({ order_id: order.id, decline_code: declineCode });
  });

  it('records nothing on tok_processingError’s transient failures and charges once when retried', async () => {
    const { provider, order, charge, events } = await setup();

    await expect(charge(testTokens.processingError)).rejects.toMatchObject({ retryable: true });
    await expect(charge(testTokens.processingError)).rejects.toMatchObject({ retryable: true });
    expect(await getPayment(prisma, order.id)).toBeNull();
    expect(await charge(testTokens.processingError)).toMatchObject({ status: 'succeeded' });

    expect(provider.chargeCount(order.id)).toBe(1);
    expect(await events('payment.success')).toHaveLength(1);
  });

  it('charges tok_timeout once when the hung first attempt is abandoned and retried', async () => {
    const { provider, order, charge } = await setup();

    await expect(charge(testTokens.timeout, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await getPayment(prisma, order.id)).toBeNull();
    const retried = await charge(testTokens.timeout);

    expect(retried.status).toBe('succeeded');
    expect(provider.chargeCount(order.id)).toBe(1);
  });

  it('refuses a charge without a card token, and charges nothing', async () => {
    const { provider, deps, order } = await setup();
    await expect(chargePayment(deps, { order, token: '' })).rejects.toBeInstanceOf(ValidationError);
    expect(provider.chargeCount(order.id)).toBe(0);
  });
});

describe('confirmPayment', () => {
  it('completes a 3-D Secure payment only after the customer authenticated, once', async () => {
    const { provider, deps, order, charge, events } = await setup();
    const pending = await charge(testTokens.threeDSecure);
    expect(pending).toMatchObject({ status: 'requires_action', nextActionUrl: expect.stringContaining('3ds') });
    expect(await events('payment.success')).toHaveLength(0);

    await expect(confirmPayment(deps, { orderId: order.id })).rejects.toBeInstanceOf(PaymentPendingError);
    provider.completeAuthentication(pending.providerPaymentId);
    const confirmed = await confirmPayment(deps, { orderId: order.id });
    await confirmPayment(deps, { orderId: order.id });

    expect(confirmed.status).toBe('succeeded');
    expect(await events('payment.success')).toHaveLength(1);
  });

  it('fails a 3-D Secure payment whose authentication failed', async () => {
    const { provider, deps, order, charge, events } = await setup();
    const pending = await charge(testTokens.threeDSecure);
    provider.completeAuthentication(pending.providerPaymentId, 'failed');

    await expect(confirmPayment(deps, { orderId: order.id })).rejects.toBeInstanceOf(PaymentDeclinedError);
    expect(await events('payment.failed')).toHaveLength(1);
  });
});

describe('refundPayment', () => {
  it('refunds once when asked twice, with one payment.refunded', async () => {
    const { deps, order, charge, events } = await setup();
    await charge(testTokens.visa);

    const first = await refundPayment(deps, { orderId: order.id });
    const second = await refundPayment(deps, { orderId: order.id });

    expect(first?.status).toBe('refunded');
    expect(second).toEqual(first);
    const refunded = await events('payment.refunded');
    expect(refunded).toHaveLength(1);
    expect(refunded[0]?.data).toMatchObject({ order_id: order.id, amount: 59.98, provider_refund_id: expect.stringMatching(/^re_/) });
  });

  it('refunds a charge whose answer was lost before it was recorded', async () => {
    const { provider, deps, order, events } = await setup();
    await provider.charge({ idempotencyKey: order.id, amount: 5998, currency: 'USD', token: testTokens.visa, reference: order.id });

    const refunded = await refundPayment(deps, { orderId: order.id });

    expect(refunded?.status).toBe('refunded');
    expect(await events('payment.success')).toHaveLength(1);
    expect(await events('payment.refunded')).toHaveLength(1);
  });

  it('has nothing to refund for an order never charged', async () => {
    const { deps, order } = await setup();
    expect(await refundPayment(deps, { orderId: order.id })).toBeNull();
  });
});

describe('reversePayment', () => {
  it('voids a payment waiting for 3-D Secure once, so it can no longer complete', async () => {
    const { provider, deps, order, charge } = await setup();
    const pending = await charge(testTokens.threeDSecure);

    await reversePayment(deps, { orderId: order.id });
    const again = await reversePayment(deps, { orderId: order.id });

    expect(again?.status).toBe('voided');
    expect(() => provider.completeAuthentication(pending.providerPaymentId)).toThrow(IllegalTransitionError);
  });

  it('refunds a succeeded payment and voids a pending one', async () => {
    const paid = await setup();
    await paid.charge(testTokens.visa);
    expect((await reversePayment(paid.deps, { orderId: paid.order.id }))?.status).toBe('refunded');

    const pending = await setup();
    await pending.charge(testTokens.threeDSecure);
    expect((await reversePayment(pending.deps, { orderId: pending.order.id }))?.status).toBe('voided');
  });

  it('refunds a 3-D Secure charge the customer completed after our row was written, recorded as paid then refunded', async () => {
    const { provider, deps, order, charge, events } = await setup();
    const pending = await charge(testTokens.threeDSecure);
    provider.completeAuthentication(pending.providerPaymentId);

    const reversed = await reversePayment(deps, { orderId: order.id });

    expect(reversed?.status).toBe('refunded');
    expect((await provider.retrieve(pending.providerPaymentId)).status).toBe('refunded');
    expect(await events('payment.success')).toHaveLength(1);
    expect(await events('payment.refunded')).toHaveLength(1);
  });

  it('refunds a 3-D Secure charge the customer completes just before the void reaches the provider', async () => {
    // The customer's authentication lands between our look at the charge and our void.
    class CustomerFirst extends FakePaymentProvider {
      override async cancel(request: { chargeId: string; idempotencyKey: string }) {
        this.completeAuthentication(request.chargeId);
        return super.cancel(request);
      }
    }
    const { provider, deps, order, charge } = await setup('29.99', new CustomerFirst());
    const pending = await charge(testTokens.threeDSecure);

    const reversed = await reversePayment(deps, { orderId: order.id });

    expect(reversed?.status).toBe('refunded');
    expect((await provider.retrieve(pending.providerPaymentId)).status).toBe('refunded');
  });

  it('records a 3-D Secure charge whose authentication failed, with nothing to undo', async () => {
    const { provider, deps, order, charge, events } = await setup();
    const pending = await charge(testTokens.threeDSecure);
    provider.completeAuthentication(pending.providerPaymentId, 'failed');

    const reversed = await reversePayment(deps, { orderId: order.id });

    expect(reversed?.status).toBe('failed');
    expect((await provider.retrieve(pending.providerPaymentId)).status).toBe('failed');
    expect(await events('payment.failed')).toHaveLength(1);
  });

});
