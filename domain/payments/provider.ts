/**
 * What the domain needs from a card payment provider, shaped after Stripe's API so that a real
 * adapter is a thin mapping. Amounts are in minor units (cents), as providers take them.
 * Every mutating call carries an idempotency key: the provider answers a repeat with the first
 * answer, which is what makes retries safe.
 */

export type ProviderChargeStatus = 'succeeded' | 'requires_action' | 'failed' | 'refunded' | 'canceled';

export interface ChargeRequest {
  idempotencyKey: string;
  /** Minor units: 5998 for 59.98. */
  amount: number;
  currency: string;
  /** The card token from the client (`tok_visa`...). */
  token: string;
  /** Our reference (the order id), stored in the charge's metadata so it can be found again. */
  reference: string;
}

export interface ProviderCharge {
  id: string;
  status: ProviderChargeStatus;
  amount: number;
  currency: string;
  reference: string;
  paymentMethod: 'credit_card';
  /** Why a card was declined (`card_declined`, `insufficient_funds`...), for a failed charge. */
  declineCode: string | null;
  failureMessage: string | null;
  refundId: string | null;
  /** For `requires_action`: where the customer authenticates (3-D Secure). */
  nextAction: { type: 'redirect_to_url'; url: string } | null;
}

export interface CallOptions {
  /** Aborts the call (the Temporal activity's cancellation signal). */
  signal?: AbortSignal;
}

export interface PaymentProvider {
  /** Stored with each payment (`provider` column, events). */
  readonly name: string;
  /** Charges a card. A declined card is a `failed` charge, not an exception. */
  charge(request: ChargeRequest, options?: CallOptions): Promise<ProviderCharge>;
  /** Refunds a succeeded charge in full. */
  refund(request: { chargeId: string; idempotencyKey: string }, options?: CallOptions): Promise<ProviderCharge>;
  /** Voids (cancels) a charge that has not completed, e.g. one waiting for 3-D Secure. */
  cancel(request: { chargeId: string; idempotencyKey: string }, options?: CallOptions): Promise<ProviderCharge>;
  retrieve(chargeId: string, options?: CallOptions): Promise<ProviderCharge>;
  /** The charge made for a reference, if any: recovers a charge whose answer was lost. */
  findByReference(reference: string, options?: CallOptions): Promise<ProviderCharge | null>;
}
