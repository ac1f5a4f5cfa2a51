// Latency summaries over plain arrays of milliseconds.

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: number[] | Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: round(percentileOfSorted(sorted, 50)),
    p99: round(percentileOfSorted(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : 0),
  };
}

export function median(values: number[]): number {
  return percentileOfSorted([...values].sort((a, b) => a - b), 50);
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
