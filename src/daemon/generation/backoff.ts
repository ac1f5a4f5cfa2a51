// Capped exponential restart delay: base * 2^(failures - 1), never above max. Pure, so the unit
// tests pin the sequence without waiting for it.
export interface BackoffPolicy {
  backoffMs: number;
  maxMs: number;
}

export function restartDelay(policy: BackoffPolicy, consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  const exponent = Math.min(consecutiveFailures - 1, 30);
  return Math.min(policy.backoffMs * 2 ** exponent, policy.maxMs);
}

// A worker that stayed up this long is healthy again: its next crash starts the sequence over.
export const STABLE_AFTER_MS = 10_000;
