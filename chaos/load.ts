import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** The card tokens the load pays with (the fake provider's test cards), and how often each. */
export const tokenMix: [string, number][] = [
  ['tok_visa', 45],
  ['tok_threeDSecure', 20],
  ['tok_chargeDeclined', 10],
  ['tok_insufficientFunds', 5],
  ['tok_processingError', 15],
  ['tok_timeout', 5],
];

export interface LoadOptions {
  apiUrl: string;
  providerUrl: string;
  /** Dev tokens of the simulated customers. */
  authorizations: string[];
  /** Orderable products (variant chosen by the API). */
  productIds: string[];
  /** Orders started per second. */
  rate: number;
  /** Share of orders sent twice at once with the same Idempotency-Key. */
  duplicateShare?: number;
  /** Share of orders cancelled right after they are accepted, racing the saga's confirmation. */
  cancelShare?: number;
  /** How long a client keeps retrying one request through connection losses and 503s. */
  retryForMs?: number;
  /** Clients at work at most: past it, an order due is not sent (counted), so a slow system is not buried. */
  maxInFlight?: number;
  /** A 3-D Secure payment is completed this long after the charge asks for it (from, to). */
  lateThreeDSecureMs?: [number, number];
  random?: () => number;
}

export interface AcceptedOrder {
  orderId: string;
  token: string;
  idempotencyKey: string;
  cancel?: number;
}

export interface LoadCounts {
  submitted: number;
  /** Orders not sent because maxInFlight clients were still at work. */
  heldBack: number;
  accepted: number;
  refused: Record<string, number>;
  /** Requests that never got an answer within the retry time (the client gave up). */
  gaveUp: number;
  retries: number;
  duplicates: { sent: number; sameOrder: number; differentOrder: number };
  cancels: { sent: number; accepted: number; refused: number; other: number };
  threeDSecure: { completedLate: number; notFound: number };
}

/**
 * Customers placing orders through the API at a steady rate, as clients do: a lost connection or a
 * 503 is retried with the same Idempotency-Key; some orders are sent twice at once; some are
 * cancelled at once (racing the saga); a 3-D Secure payment is completed at the provider seconds
 * later, which calls the API's webhook.
 */
export class Load {
  readonly accepted = new Map<string, AcceptedOrder>();
  readonly counts: LoadCounts = {
    submitted: 0,
    heldBack: 0,
    accepted: 0,
    refused: {},
    gaveUp: 0,
    retries: 0,
    duplicates: { sent: 0, sameOrder: 0, differentOrder: 0 },
    cancels: { sent: 0, accepted: 0, refused: 0, other: 0 },
    threeDSecure: { completedLate: 0, notFound: 0 },
  };
  /** Orders whose client is still at work (posting, cancelling, completing 3-D Secure). */
  inFlight = 0;
  private running = false;
  private readonly tasks = new Set<Promise<void>>();
  private readonly random: () => number;

  constructor(private readonly options: LoadOptions) {
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.running = true;
    const interval = 1000 / this.options.rate;
    const tick = async () => {
      const started = Date.now();
      for (let n = 1; this.running; n++) {
        if (this.inFlight < (this.options.maxInFlight ?? 60)) {
          const task = this.placeOne().finally(() => this.tasks.delete(task));
          this.tasks.add(task);
        } else this.counts.heldBack++;
        const due = started + n * interval;
        await sleep(Math.max(0, due - Date.now()));
      }
    };
    void tick();
  }

  /** Stops placing new orders. */
  halt(): void {
    this.running = false;
  }

  /** Stops placing new orders and waits for every client's work to end. */
  async stop(): Promise<void> {
    this.halt();
    while (this.tasks.size) await Promise.all([...this.tasks]);
  }

  private pick<T>(list: T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  private pickToken(): string {
    const total = tokenMix.reduce((sum, [, w]) => sum + w, 0);
    let r = this.random() * total;
    for (const [token, weight] of tokenMix) if ((r -= weight) < 0) return token;
    return tokenMix[0]![0];
  }

  private async placeOne(): Promise<void> {
    this.counts.submitted++;
    this.inFlight++;
    try {
      const authorization = this.pick(this.options.authorizations);
      const token = this.pickToken();
      const body = {
        items: [...new Set(Array.from({ length: this.random() < 0.2 ? 2 : 1 }, () => this.pick(this.options.productIds)))].map((productId) => ({
          product_id: productId,
          quantity: 1 + Math.floor(this.random() * 3),
        })),
        shipping_address: { address_line1: '1 Chaos Street', city: 'Springfield', state: 'IL', postal_code: '62701', country: 'US' },
        payment: { method: 'card', token },
      };
      const idempotencyKey = randomUUID();
      const duplicate = this.random() < (this.options.duplicateShare ?? 0.15);
      const attempts = duplicate ? [this.post(authorization, idempotencyKey, body), this.post(authorization, idempotencyKey, body)] : [this.post(authorization, idempotencyKey, body)];
      const answers = await Promise.all(attempts);
      if (duplicate) {
        this.counts.duplicates.sent++;
        const ids = answers.map((a) => a.orderId).filter(Boolean);
        if (ids.length === 2 && ids[0] === ids[1]) this.counts.duplicates.sameOrder++;
        else if (ids.length === 2) this.counts.duplicates.differentOrder++;
      }
      const first = answers.find((a) => a.orderId);
      if (!first) {
        const status = answers[0]!.status;
        if (status === 'gave-up') this.counts.gaveUp++;
        else this.counts.refused[status] = (this.counts.refused[status] ?? 0) + 1;
        return;
      }
      const order: AcceptedOrder = { orderId: first.orderId!, token, idempotencyKey };
      this.accepted.set(order.orderId, order);
      this.counts.accepted++;
      const work: Promise<void>[] = [];
      if (this.random() < (this.options.cancelShare ?? 0.15)) work.push(this.cancel(authorization, order));
      if (token === 'tok_threeDSecure') work.push(this.completeThreeDSecureLate(authorization, order.orderId));
      await Promise.all(work);
    } finally {
      this.inFlight--;
    }
  }

  /** One request, retried through connection losses, 5xx and 429 until it has an answer or the retry time is up. */
  private async request(url: string, init: RequestInit): Promise<{ status: number; body: unknown } | undefined> {
    const deadline = Date.now() + (this.options.retryForMs ?? 120_000);
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) {
        this.counts.retries++;
        await sleep(Math.min(5000, 500 * 2 ** Math.min(attempt, 4)) * (0.5 + this.random()));
      }
      try {
        const response = await fetch(url, { ...init, signal: AbortSignal.timeout(40_000) });
        const body = await response.json().catch(() => undefined);
        if (response.status >= 500 || response.status === 429) continue;
        return { status: response.status, body };
      } catch {
        // The instance died with the request, or the balancer found none alive: the client tries again.
      }
    }
    return undefined;
  }

  private async post(authorization: string, idempotencyKey: string, body: unknown): Promise<{ orderId?: string; status: string }> {
    const answer = await this.request(`${this.options.apiUrl}/api/v1/orders`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: JSON.stringify(body),
    });
    if (!answer) return { status: 'gave-up' };
    const orderId = answer.status === 202 ? (answer.body as { order_id: string }).order_id : undefined;
    return { orderId, status: String(answer.status) };
  }

  private async cancel(authorization: string, order: AcceptedOrder): Promise<void> {
    await sleep(this.random() * 400);
    this.counts.cancels.sent++;
    const answer = await this.request(`${this.options.apiUrl}/api/v1/orders/${order.orderId}/cancel`, { method: 'POST', headers: { authorization } });
    order.cancel = answer?.status;
    if (answer?.status === 202) this.counts.cancels.accepted++;
    else if (answer?.status === 409) this.counts.cancels.refused++;
    else this.counts.cancels.other++;
  }

  /** Plays the customer who completes 3-D Secure seconds after the charge asked for it. */
  private async completeThreeDSecureLate(authorization: string, orderId: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (let round = 0; Date.now() < deadline; round++) {
      await sleep(1500);
      const charges = await fetch(`${this.options.providerUrl}/v1/charges?reference=${orderId}`)
        .then((r) => r.json() as Promise<{ data: { id: string; status: string }[] }>)
        .catch(() => ({ data: [] }));
      const waiting = charges.data.find((c) => c.status === 'requires_action');
      if (waiting) {
        const [from, to] = this.options.lateThreeDSecureMs ?? [2000, 8000];
        await sleep(from + this.random() * (to - from));
        const done = await fetch(`${this.options.providerUrl}/v1/charges/${waiting.id}/authenticate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }).catch(() => undefined);
        if (done?.ok) this.counts.threeDSecure.completedLate++;
        return;
      }
      if (charges.data.length || round % 3 !== 2) {
        if (charges.data.length) return;
        continue;
      }
      // Out of stock or cancelled before the charge: there is nothing to complete.
      const order = await fetch(`${this.options.apiUrl}/api/v1/orders/${orderId}`, { headers: { authorization } })
        .then((r) => r.json() as Promise<{ status?: string }>)
        .catch(() => ({ status: undefined }));
      if (order.status === 'failed' || order.status === 'cancelled') return;
    }
    this.counts.threeDSecure.notFound++;
  }
}
