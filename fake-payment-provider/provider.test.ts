import { describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError, PaymentProviderUnavailableError, ValidationError } from '../domain/errors.js';
import { FakePaymentProvider, testTokens } from './provider.js';

const request = (token: string, key = `key-${Math.random()}`) => ({
  idempotencyKey: key,
  amount: 5998,
  currency: 'USD',
  token,
  reference: key,
});

describe('FakePaymentProvider', () => {
  it('answers a repeated key with the first charge', async () => {
    const provider = new FakePaymentProvider();
    const req = request(testTokens.visa);
    const first = await provider.charge(req);
    const second = await provider.charge(req);
    expect(second).toEqual(first);
    expect(provider.chargeCount(req.reference)).toBe(1);
  });

  it('refuses a key reused with other parameters, as Stripe does', async () => {
    const provider = new FakePaymentProvider();
    const req = request(testTokens.visa);
    await provider.charge(req);
    await expect(provider.charge({ ...req, amount: 100 })).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
  });

  it('declines tok_chargeDeclined and tok_insufficientFunds with their decline codes', async () => {
    const provider = new FakePaymentProvider();
    expect(await provider.charge(request(testTokens.chargeDeclined))).toMatchObject({ status: 'failed', declineCode: 'card_declined' });
    expect(await provider.charge(request(testTokens.insufficientFunds))).toMatchObject({
      status: 'failed',
      declineCode: 'insufficient_funds',
    });
  });

  it('fails tok_processingError twice, retryably, then succeeds with the same key', async () => {
    const provider = new FakePaymentProvider();
    const req = request(testTokens.processingError);
    for (let i = 0; i < 2; i++) {
      await expect(provider.charge(req)).rejects.toMatchObject({ type: 'PaymentProviderUnavailable', retryable: true });
    }
    expect(await provider.charge(req)).toMatchObject({ status: 'succeeded' });
    expect(provider.chargeCount(req.reference)).toBe(1);
    await expect(provider.charge(request(testTokens.processingError))).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
  });

  it('hangs on tok_timeout’s first call until aborted, having charged, and answers the retry at once', async () => {
    const provider = new FakePaymentProvider({ hangMs: 60_000 });
    const req = request(testTokens.timeout);
    const controller = new AbortController();
    const hung = provider.charge(req, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(hung).rejects.toMatchObject({ name: 'AbortError' });

    const retried = await provider.charge(req);
    expect(retried.status).toBe('succeeded');
    expect(provider.chargeCount(req.reference)).toBe(1);
  });

  it('holds tok_threeDSecure in requires_action until the customer authenticates', async () => {
    const provider = new FakePaymentProvider();
    const charge = await provider.charge(request(testTokens.threeDSecure));
    expect(charge).toMatchObject({ status: 'requires_action', nextAction: { type: 'redirect_to_url' } });
    expect((await provider.retrieve(charge.id)).status).toBe('requires_action');
    provider.completeAuthentication(charge.id);
    expect((await provider.retrieve(charge.id)).status).toBe('succeeded');
  });

  it('refuses an unknown token', async () => {
    await expect(new FakePaymentProvider().charge(request('tok_nonsense'))).rejects.toBeInstanceOf(ValidationError);
  });
});
