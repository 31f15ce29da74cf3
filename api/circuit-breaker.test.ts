import { describe, expect, it } from 'vitest';
import { CircuitBreaker, DependencyUnavailableError } from './circuit-breaker.js';

function breaker(options: { isFailure?: (error: unknown) => boolean; timeoutMs?: number } = {}) {
  let now = 0;
  const b = new CircuitBreaker({ name: 'Dep', failureThreshold: 2, resetMs: 10_000, timeoutMs: options.timeoutMs ?? 1_000, isFailure: options.isFailure, clock: () => new Date(now) });
  return { b, advance: (ms: number) => (now += ms) };
}

const fail = () => Promise.reject(new Error('connection refused'));
const ok = () => Promise.resolve('ok');

describe('CircuitBreaker (seed §1)', () => {
  it('opens after the threshold of failures in a row and then fails fast without calling, with Retry-After', async () => {
    const { b, advance } = breaker();
    await expect(b.run(fail)).rejects.toBeInstanceOf(DependencyUnavailableError);
    await expect(b.run(fail)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(b.currentState).toBe('open');
    let called = false;
    advance(2_500);
    const refused = await b.run(async () => (called = true)).catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(refused).toMatchObject({ dependency: 'Dep', retryAfterSeconds: 8, message: expect.stringMatching(/circuit open/) });
  });

  it('a success in between resets the count', async () => {
    const { b } = breaker();
    await b.run(fail).catch(() => undefined);
    await b.run(ok);
    await b.run(fail).catch(() => undefined);
    expect(b.currentState).toBe('closed');
  });

  it('lets one probe through when half-open: its success closes the circuit, its failure reopens it', async () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 2; i += 1) await b.run(fail).catch(() => undefined);
    advance(10_000);
    expect(b.currentState).toBe('half_open');

    let release!: () => void;
    const probe = b.run(() => new Promise<string>((resolve) => (release = () => resolve('ok'))));
    await expect(b.run(ok)).rejects.toThrow(/circuit open/);
    release();
    await expect(probe).resolves.toBe('ok');
    expect(b.currentState).toBe('closed');

    for (let i = 0; i < 2; i += 1) await b.run(fail).catch(() => undefined);
    advance(10_000);
    await b.run(fail).catch(() => undefined);
    expect(b.currentState).toBe('open');
  });

  it('counts a call slower than the timeout as a failure, and aborts it', async () => {
    const { b } = breaker({ timeoutMs: 20 });
    let aborted = false;
    const slow = (signal: AbortSignal) =>
      new Promise<string>((resolve) => {
        signal.addEventListener('abort', () => (aborted = true));
        setTimeout(() => resolve('late'), 200);
      });
    await expect(b.run(slow)).rejects.toThrow(/Dep is unavailable/);
    expect(aborted).toBe(true);
  });

  it('passes on errors that are answers from a healthy dependency without counting them', async () => {
    class NotFound extends Error {}
    const { b } = breaker({ isFailure: (e) => !(e instanceof NotFound) });
    for (let i = 0; i < 3; i += 1) await expect(b.run(() => Promise.reject(new NotFound('no such row')))).rejects.toBeInstanceOf(NotFound);
    expect(b.currentState).toBe('closed');
  });
});
