// Restart delays: exponential in the number of recent crashes, capped, forgiven after a stable run.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** A process that ran this long before dying restarts at the base delay again. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 10_000, stableMs: 30_000 };

/** `streak` is the number of consecutive short-lived runs before this one. */
export function nextDelay(p: BackoffPolicy, streak: number, ranMs: number): { delayMs: number; streak: number } {
  const s = ranMs >= p.stableMs ? 0 : streak + 1;
  return { delayMs: Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, s - 1)), streak: s };
}
