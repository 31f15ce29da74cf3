import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  IdempotencyKeyReusedError,
  IllegalTransitionError,
  NotFoundError,
  PaymentProviderUnavailableError,
  ValidationError,
} from '../domain/errors.js';
import type { CallOptions, ChargeRequest, PaymentProvider, ProviderCharge } from '../domain/payments/provider.js';

/** The test card tokens of CONTRACT §3 (Stripe's test-mode names). */
export const testTokens = {
  visa: 'tok_visa',
  chargeDeclined: 'tok_chargeDeclined',
  insufficientFunds: 'tok_insufficientFunds',
  processingError: 'tok_processingError',
  timeout: 'tok_timeout',
  threeDSecure: 'tok_threeDSecure',
} as const;

const declines: Record<string, { declineCode: string; message: string }> = {
  [testTokens.chargeDeclined]: { declineCode: 'card_declined', message: 'Your card was declined.' },
  [testTokens.insufficientFunds]: { declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
};

/** tok_processingError fails this many times per idempotency key before it succeeds. */
const TRANSIENT_FAILURES = 2;

export interface FakePaymentProviderOptions {
  /**
   * How long tok_timeout's first call hangs: by default past the 30 s payment activity timeout
   * (CONTRACT §3), so that Temporal gives up on the attempt and retries.
   */
  hangMs?: number;
}

interface SavedResponse {
  fingerprint: string;
  response: ProviderCharge;
}

/**
 * A payment provider that behaves like Stripe in test mode, chosen by token (CONTRACT §3). It stands
 * in for the outside world, so it keeps its state in memory, like Stripe's would be out of reach.
 * Idempotency as Stripe: a key's first completed answer is saved and replayed for the same request;
 * the same key with other parameters, or on another endpoint, is refused. Transient failures are not
 * saved (the request never executed), so a retry with the same key tries again.
 */
export class FakePaymentProvider implements PaymentProvider {
  readonly name = 'fake';
  private readonly hangMs: number;
  private readonly charges = new Map<string, ProviderCharge>();
  private readonly saved = new Map<string, SavedResponse>();
  private readonly attempts = new Map<string, number>();

  constructor(options: FakePaymentProviderOptions = {}) {
    this.hangMs = options.hangMs ?? 35_000;
  }

  async charge(request: ChargeRequest, options: CallOptions = {}): Promise<ProviderCharge> {
    const replay = this.replay('charge', request.idempotencyKey, request);
    if (replay) return replay;
    if (!Number.isInteger(request.amount) || request.amount <= 0) {
      throw new ValidationError(`amount must be a positive integer of minor units, got ${request.amount}`);
    }
    const attempt = (this.attempts.get(request.idempotencyKey) ?? 0) + 1;
    this.attempts.set(request.idempotencyKey, attempt);

    const base = {
      id: `ch_${randomBytes(12).toString('hex')}`,
      amount: request.amount,
      currency: request.currency,
      reference: request.reference,
      paymentMethod: 'credit_card' as const,
      declineCode: null,
      failureMessage: null,
      refundId: null,
      nextAction: null,
    };
    const decline = declines[request.token];
    switch (request.token) {
      case testTokens.visa:
        return this.save('charge', request, { ...base, status: 'succeeded' });
      case testTokens.chargeDeclined:
      case testTokens.insufficientFunds:
        return this.save('charge', request, {
          ...base,
          status: 'failed',
          declineCode: decline!.declineCode,
          failureMessage: decline!.message,
        });
      case testTokens.processingError:
        if (attempt <= TRANSIENT_FAILURES) {
          throw new PaymentProviderUnavailableError('An error occurred while processing your card. Try again.', {
            code: 'processing_error',
            attempt,
          });
        }
        return this.save('charge', request, { ...base, status: 'succeeded' });
      case testTokens.timeout: {
        // The charge is made, then the answer is lost: the first caller times out, a retry with the
        // same key gets the saved charge and nothing is charged twice.
        const charge = this.save('charge', request, { ...base, status: 'succeeded' });
        if (attempt === 1) await sleep(this.hangMs, undefined, { signal: options.signal });
        return charge;
      }
      case testTokens.threeDSecure:
        return this.save('charge', request, {
          ...base,
          status: 'requires_action',
          nextAction: { type: 'redirect_to_url', url: `https://fake-payments.invalid/3ds/${base.id}` },
        });
      default:
        throw new ValidationError(`No such token: '${request.token}'`, { code: 'resource_missing', param: 'source' });
    }
  }

  async refund(request: { chargeId: string; idempotencyKey: string }): Promise<ProviderCharge> {
    const replay = this.replay('refund', request.idempotencyKey, request);
    if (replay) return replay;
    const charge = this.find(request.chargeId);
    if (charge.status !== 'succeeded') throw new IllegalTransitionError('charge', charge.id, charge.status, 'refunded');
    return this.update(charge, 'refund', request, { status: 'refunded', refundId: `re_${randomBytes(12).toString('hex')}` });
  }

  async cancel(request: { chargeId: string; idempotencyKey: string }): Promise<ProviderCharge> {
    const replay = this.replay('cancel', request.idempotencyKey, request);
    if (replay) return replay;
    const charge = this.find(request.chargeId);
    if (charge.status !== 'requires_action') throw new IllegalTransitionError('charge', charge.id, charge.status, 'canceled');
    return this.update(charge, 'cancel', request, { status: 'canceled', nextAction: null });
  }

  async retrieve(chargeId: string): Promise<ProviderCharge> {
    return { ...this.find(chargeId) };
  }

  async findByReference(reference: string): Promise<ProviderCharge | null> {
    const charge = [...this.charges.values()].find((c) => c.reference === reference);
    return charge ? { ...charge } : null;
  }

  /**
   * The customer's side of 3-D Secure (not part of PaymentProvider: a real provider's customer does
   * this in their browser). Afterwards the provider would send its webhook.
   */
  completeAuthentication(chargeId: string, outcome: 'succeeded' | 'failed' = 'succeeded'): ProviderCharge {
    const charge = this.find(chargeId);
    if (charge.status !== 'requires_action') throw new IllegalTransitionError('charge', charge.id, charge.status, outcome);
    const next: ProviderCharge =
      outcome === 'succeeded'
        ? { ...charge, status: 'succeeded', nextAction: null }
        : {
            ...charge,
            status: 'failed',
            nextAction: null,
            declineCode: 'authentication_failed',
            failureMessage: 'The customer did not complete 3-D Secure authentication.',
          };
    this.charges.set(chargeId, next);
    return { ...next };
  }

  /** Every charge made for a reference (the order id). */
  chargesFor(reference: string): ProviderCharge[] {
    return [...this.charges.values()].filter((c) => c.reference === reference).map((c) => ({ ...c }));
  }

  /** How many charges this provider holds for a reference: what tests count to prove "charged once". */
  chargeCount(reference: string): number {
    return this.chargesFor(reference).length;
  }

  private fingerprint(endpoint: string, params: object): string {
    return createHash('sha256').update(JSON.stringify([endpoint, params])).digest('hex');
  }

  private replay(endpoint: string, key: string, params: object): ProviderCharge | null {
    const saved = this.saved.get(key);
    if (!saved) return null;
    if (saved.fingerprint !== this.fingerprint(endpoint, params)) {
      throw new IdempotencyKeyReusedError(
        `Keys for idempotent requests can only be used with the same parameters they were first used with (key ${key})`,
        { idempotencyKey: key },
      );
    }
    return { ...saved.response };
  }

  private save(endpoint: string, request: ChargeRequest, charge: ProviderCharge): ProviderCharge {
    this.charges.set(charge.id, charge);
    this.saved.set(request.idempotencyKey, { fingerprint: this.fingerprint(endpoint, request), response: { ...charge } });
    return { ...charge };
  }

  private update(
    charge: ProviderCharge,
    endpoint: string,
    request: { chargeId: string; idempotencyKey: string },
    change: Partial<ProviderCharge>,
  ): ProviderCharge {
    const next = { ...charge, ...change };
    this.charges.set(charge.id, next);
    this.saved.set(request.idempotencyKey, { fingerprint: this.fingerprint(endpoint, request), response: { ...next } });
    return { ...next };
  }

  private find(chargeId: string): ProviderCharge {
    const charge = this.charges.get(chargeId);
    if (!charge) throw new NotFoundError('charge', chargeId);
    return charge;
  }
}
