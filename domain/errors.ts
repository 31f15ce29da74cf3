/**
 * The application's errors. Each knows its HTTP status (the API maps it to a problem body) and
 * whether Temporal may retry it: business refusals are final, so retrying them only wastes time.
 * `type` is stable: it is the Temporal ApplicationFailure type and the problem's type suffix.
 */
export abstract class AppError extends Error {
  abstract readonly type: string;
  abstract readonly status: number;
  abstract readonly retryable: boolean;

  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Headers the HTTP answer carries beside the problem body (`WWW-Authenticate`, `Retry-After`). */
  headers(): Record<string, string> {
    return {};
  }

  /** Members the problem body carries beside the standard ones (RFC 9457 extension members). */
  problemMembers(): Record<string, unknown> {
    return {};
  }
}

export class ValidationError extends AppError {
  readonly type = 'Validation';
  readonly status = 400;
  readonly retryable = false;

  /** The zod issues in `details.issues`, if any, as the problem's field errors (JSON pointers into the body). */
  override problemMembers(): Record<string, unknown> {
    const issues = Array.isArray(this.details.issues) ? (this.details.issues as { path: PropertyKey[]; message: string }[]) : [];
    if (!issues.length) return {};
    return { errors: issues.map((i) => ({ in: 'body', pointer: `/${i.path.map(String).join('/')}`, detail: i.message })) };
  }
}

/**
 * A well-formed request that the state of what it acts on refuses (an empty cart to order from, a
 * cart in another currency): 409, as the caller can change that state and try again.
 */
export class ConflictError extends AppError {
  readonly type = 'Conflict';
  readonly status = 409;
  readonly retryable = false;
}

export class NotFoundError extends AppError {
  readonly type = 'NotFound';
  readonly status = 404;
  readonly retryable = false;

  constructor(resource: string, id: string) {
    super(`${resource} ${id} not found`, { resource, id });
  }
}

export class IllegalTransitionError extends AppError {
  readonly type = 'IllegalTransition';
  readonly status = 409;
  readonly retryable = false;

  constructor(entity: string, id: string, from: string, to: string) {
    super(`${entity} ${id} cannot go from ${from} to ${to}`, { entity, id, from, to });
  }
}

/**
 * A saga step met an order whose status no longer allows it: the order was failed, cancelled or
 * confirmed by someone else meanwhile (e.g. the API, after a saga start whose answer was lost).
 */
export class OrderStatusConflictError extends AppError {
  readonly type = 'OrderStatusConflict';
  readonly status = 409;
  readonly retryable = false;

  constructor(orderId: string, status: string, step: string, allowed: readonly string[]) {
    super(`order ${orderId} is ${status}: ${step} acts only on an order that is ${allowed.join(' or ')}`, { orderId, status, step, allowed });
  }
}

export interface StockShortage {
  productId: string;
  variantId: string;
  requested: number;
  available: number;
}

export class OutOfStockError extends AppError {
  readonly type = 'OutOfStock';
  readonly status = 409;
  readonly retryable = false;

  constructor(readonly shortages: StockShortage[]) {
    super(`not enough stock for ${shortages.map((s) => `variant ${s.variantId}`).join(', ')}`, { shortages });
  }
}

export class PaymentDeclinedError extends AppError {
  readonly type = 'PaymentDeclined';
  readonly status = 402;
  readonly retryable = false;
}

/** The webhook said a payment completed but the provider does not (yet) agree. */
export class PaymentPendingError extends AppError {
  readonly type = 'PaymentPending';
  readonly status = 409;
  readonly retryable = true;
}

/** The same idempotency key was sent with different parameters (Stripe answers 400 idempotency_error). */
export class IdempotencyKeyReusedError extends AppError {
  readonly type = 'IdempotencyKeyReused';
  readonly status = 422;
  readonly retryable = false;
}

/** The payment provider failed in a way that a later attempt may not (network, 5xx, processing_error). */
export class PaymentProviderUnavailableError extends AppError {
  readonly type = 'PaymentProviderUnavailable';
  readonly status = 503;
  readonly retryable = true;
}

/** An event payload that does not match its schema: a bug, never retried. */
export class InvalidEventError extends AppError {
  readonly type = 'InvalidEvent';
  readonly status = 500;
  readonly retryable = false;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
