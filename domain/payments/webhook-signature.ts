import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';

/** The header the payment provider signs its callbacks with: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, as Stripe's. */
export const SIGNATURE_HEADER = 'payment-signature';

/** A callback that is not signed with the shared secret, or not recently: refused with 400. */
export class InvalidSignatureError extends AppError {
  readonly type = 'InvalidSignature';
  readonly status = 400;
  readonly retryable = false;
}

function hmac(secret: string, timestamp: number, payload: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest('hex');
}

/** The signature header for a payload: what the provider sends (and what tests sign with). */
export function signWebhook(secret: string, payload: Buffer | string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, payload)}`;
}

/**
 * Checks that the raw body was signed with the shared secret, recently: the HMAC covers the
 * timestamp too, so an old callback cannot be replayed beyond the tolerance.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  payload: Buffer,
  options: { now: Date; toleranceSeconds: number },
): void {
  if (!header) throw new InvalidSignatureError(`the ${SIGNATURE_HEADER} header is missing`);
  const parts = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const [name, value] = part.trim().split('=', 2);
    if (name && value) parts.set(name, [...(parts.get(name) ?? []), value]);
  }
  const timestamp = Number(parts.get('t')?.[0]);
  const signatures = parts.get('v1') ?? [];
  if (!Number.isInteger(timestamp) || signatures.length === 0) {
    throw new InvalidSignatureError(`the ${SIGNATURE_HEADER} header must read t=<timestamp>,v1=<signature>`);
  }
  if (Math.abs(options.now.getTime() / 1000 - timestamp) > options.toleranceSeconds) {
    throw new InvalidSignatureError('the signature is too old (or from the future)');
  }
  const expected = Buffer.from(hmac(secret, timestamp, payload), 'hex');
  const matches = signatures.some((s) => {
    const given = Buffer.from(s, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new InvalidSignatureError('the signature does not match the payload');
}
