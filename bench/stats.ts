/** Percentiles and per-second series of the bench's samples. */

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export interface Summary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

export interface SecondPoint {
  second: number;
  completed: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Completions per second since `start`, with the latency percentiles of those completing in it. */
export function perSecond(samples: { doneAt: number; latencyMs: number }[], start: number): SecondPoint[] {
  const buckets = new Map<number, number[]>();
  for (const s of samples) {
    const second = Math.floor((s.doneAt - start) / 1000);
    buckets.set(second, [...(buckets.get(second) ?? []), s.latencyMs]);
  }
  const last = Math.max(-1, ...buckets.keys());
  return Array.from({ length: last + 1 }, (_, second) => {
    const summary = summarize(buckets.get(second) ?? []);
    return { second, completed: summary.count, p50: summary.p50, p95: summary.p95, p99: summary.p99 };
  });
}
