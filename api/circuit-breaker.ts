import { type Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** What the breaker guards, for messages and /health. */
  name: string;
  /** Failures in a row that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe call may try again. */
  resetMs: number;
  /** A call slower than this counts as a failure (and is given up on). */
  timeoutMs: number;
  /** Errors that say nothing about the dependency's health (a unique violation, a 404) do not count. */
  isFailure?: (error: unknown) => boolean;
  clock?: Clock;
}

/** The dependency is down or the circuit is open: the caller should try again after `retryAfterSeconds`. */
export class DependencyUnavailableError extends AppError {
  readonly type = 'DependencyUnavailable';
  readonly status = 503;
  readonly retryable = true;

  constructor(
    readonly dependency: string,
    readonly retryAfterSeconds: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${message}; retry after ${retryAfterSeconds} s`, { dependency }, options);
  }

  override headers(): Record<string, string> {
    return { 'retry-after': String(this.retryAfterSeconds) };
  }
}

class CallTimeoutError extends Error {
  override name = 'CallTimeoutError';
}

/**
 * Seed §1's circuit breaker: closed until `failureThreshold` failures in a row, then open (calls
 * fail at once) for `resetMs`, then half-open: one probe call goes through, and its outcome closes
 * or reopens the circuit. Calls that take longer than `timeoutMs` count as failures, so a hanging
 * dependency fails fast too.
 */
export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly clock: Clock;
  private readonly isFailure: (error: unknown) => boolean;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.isFailure = options.isFailure ?? (() => true);
  }

  get name(): string {
    return this.options.name;
  }

  /** How long a call may take before the breaker gives up on it. */
  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** The state as a caller would meet it now (an open circuit whose reset time passed is half-open). */
  get currentState(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.options.resetMs) return 'half_open';
    return this.state;
  }

  /** Runs `call` through the breaker; `signal` aborts when the call's time (`timeoutMs` unless given) is up. */
  async run<T>(call: (signal: AbortSignal) => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    this.admit();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new CallTimeoutError(`${this.name} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([call(controller.signal), timeout]);
      this.onSuccess();
      return result;
    } catch (error) {
      if (error instanceof CallTimeoutError || this.isFailure(error)) {
        this.onFailure();
        throw new DependencyUnavailableError(this.name, this.retryAfterSeconds(), `${this.name} is unavailable`, {
          cause: error,
        });
      }
      this.onSuccess();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private admit(): void {
    const state = this.currentState;
    if (state === 'closed') return;
    if (state === 'half_open' && !this.probing) {
      this.state = 'half_open';
      this.probing = true;
      return;
    }
    throw new DependencyUnavailableError(this.name, this.retryAfterSeconds(), `${this.name} is unavailable (circuit open)`);
  }

  private onSuccess(): void {
    this.failures = 0;
    this.probing = false;
    this.state = 'closed';
  }

  private onFailure(): void {
    this.failures += 1;
    this.probing = false;
    if (this.state === 'half_open' || this.failures >= this.options.failureThreshold) {
      this.state = 'open';
      this.openedAt = this.now();
    }
  }

  /** Seconds until the next probe may run; at least 1, as Retry-After counts whole seconds. */
  private retryAfterSeconds(): number {
    if (this.state !== 'open') return 1;
    const left = this.options.resetMs - (this.now() - this.openedAt);
    return Math.max(1, Math.ceil(left / 1000));
  }

  private now(): number {
    return this.clock().getTime();
  }
}
