import { FakePaymentProvider } from '../../fake-payment-provider/provider.js';
import { type ChargeRequest, type PaymentProvider, type ProviderCharge } from '../../domain/payments/provider.js';

/**
 * The fake provider, keeping a ledger of every charge it answered with and the state it last
 * reported: what the fuzz compares before and after a refused request ("the provider's charges").
 */
export class LedgerProvider implements PaymentProvider {
  readonly name = 'fake';
  readonly fake = new FakePaymentProvider();
  private readonly states = new Map<string, string>();

  async charge(request: ChargeRequest): Promise<ProviderCharge> {
    return this.note(await this.fake.charge(request));
  }

  async refund(request: { chargeId: string; idempotencyKey: string }): Promise<ProviderCharge> {
    return this.note(await this.fake.refund(request));
  }

  async cancel(request: { chargeId: string; idempotencyKey: string }): Promise<ProviderCharge> {
    return this.note(await this.fake.cancel(request));
  }

  retrieve(chargeId: string): Promise<ProviderCharge> {
    return this.fake.retrieve(chargeId);
  }

  findByReference(reference: string): Promise<ProviderCharge | null> {
    return this.fake.findByReference(reference);
  }

  /** The customer completes 3-D Secure, as in their browser. */
  completeAuthentication(chargeId: string): ProviderCharge {
    return this.note(this.fake.completeAuthentication(chargeId));
  }

  /** Every charge as `id:status`, sorted. */
  chargeStates(): string[] {
    return [...this.states].map(([id, status]) => `${id}:${status}`).sort();
  }

  private note(charge: ProviderCharge): ProviderCharge {
    this.states.set(charge.id, charge.status);
    return charge;
  }
}
