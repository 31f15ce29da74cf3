import {
  type AppError,
  IdempotencyKeyReusedError,
  IllegalTransitionError,
  NotFoundError,
  PaymentProviderUnavailableError,
  ValidationError,
} from '../errors.js';
import type { CallOptions, ChargeRequest, PaymentProvider, ProviderCharge } from './provider.js';

/** How a provider's refusal travels over HTTP: its type, message and details. */
export interface ProviderErrorBody {
  error: { type: string; message: string; details?: Record<string, unknown> };
}

/** Rebuilds the domain error a provider answered with, so callers see the same errors in-process or over HTTP. */
function providerError(status: number, body: ProviderErrorBody | undefined): AppError {
  const { type = 'unknown', message = `payment provider answered ${status}`, details = {} } = body?.error ?? {};
  switch (type) {
    case 'IdempotencyKeyReused':
      return new IdempotencyKeyReusedError(message, details);
    case 'IllegalTransition':
      return new IllegalTransitionError(
        String(details.entity ?? 'charge'),
        String(details.id ?? ''),
        String(details.from ?? ''),
        String(details.to ?? ''),
      );
    case 'NotFound':
      return new NotFoundError(String(details.resource ?? 'charge'), String(details.id ?? ''));
    case 'Validation':
      return new ValidationError(message, details);
    default:
      return new PaymentProviderUnavailableError(message, { status, type, ...details });
  }
}

/**
 * A PaymentProvider reached over HTTP, Stripe style: JSON bodies, an `Idempotency-Key` header on
 * every mutating call. It speaks to the fake provider's server in development; a real provider's
 * adapter would take its place here. Network failures and 5xx answers are retryable.
 */
export class HttpPaymentProvider implements PaymentProvider {
  readonly name: string;

  constructor(
    private readonly baseUrl: string,
    options: { name?: string } = {},
  ) {
    this.name = options.name ?? 'fake';
  }

  charge(request: ChargeRequest, options?: CallOptions): Promise<ProviderCharge> {
    const { idempotencyKey, ...body } = request;
    return this.call('POST', '/v1/charges', { body, idempotencyKey, ...options });
  }

  refund(request: { chargeId: string; idempotencyKey: string }, options?: CallOptions): Promise<ProviderCharge> {
    return this.call('POST', `/v1/charges/${encodeURIComponent(request.chargeId)}/refund`, { idempotencyKey: request.idempotencyKey, ...options });
  }

  cancel(request: { chargeId: string; idempotencyKey: string }, options?: CallOptions): Promise<ProviderCharge> {
    return this.call('POST', `/v1/charges/${encodeURIComponent(request.chargeId)}/cancel`, { idempotencyKey: request.idempotencyKey, ...options });
  }

  retrieve(chargeId: string, options?: CallOptions): Promise<ProviderCharge> {
    return this.call('GET', `/v1/charges/${encodeURIComponent(chargeId)}`, options);
  }

  async findByReference(reference: string, options?: CallOptions): Promise<ProviderCharge | null> {
    const { data } = await this.call<{ data: ProviderCharge[] }>('GET', `/v1/charges?reference=${encodeURIComponent(reference)}`, options);
    return data[0] ?? null;
  }

  private async call<T = ProviderCharge>(
    method: 'GET' | 'POST',
    path: string,
    options: CallOptions & { body?: object; idempotencyKey?: string } = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          ...(options.body ? { 'content-type': 'application/json' } : {}),
          ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
        },
        body: options.body ? JSON.stringify(options.body) : undefined,
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new PaymentProviderUnavailableError(`payment provider unreachable at ${this.baseUrl}: ${(error as Error).message}`);
    }
    const body = (await response.json().catch(() => undefined)) as unknown;
    if (!response.ok) throw providerError(response.status, body as ProviderErrorBody | undefined);
    return body as T;
  }
}
