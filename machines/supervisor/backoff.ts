// Restart delays: exponential in the number of recent crashes, capped, forgiven after a stable run; a slot that keeps crashing gives up.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** A process that ran this long before dying restarts at the base delay again. */
  stableMs: number;
  /** After this many consecutive short-lived runs the slot gives up (`failed`) instead of restarting again. */
  giveUpAfter?: number;
}

/** 100 ms doubling to 10 s; twelve short-lived runs in a row (about a minute of crash-looping) and the slot fails. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 10_000, stableMs: 30_000, giveUpAfter: 12 };

/** `streak` is the number of consecutive short-lived runs before this one. */
export function nextDelay(p: BackoffPolicy, streak: number, ranMs: number): { delayMs: number; streak: number } {
  const s = ranMs >= p.stableMs ? 0 : streak + 1;
  return { delayMs: Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, s - 1)), streak: s };
}

/** Whether a slot with this streak of short-lived runs should stop restarting. */
export function givesUp(p: BackoffPolicy, streak: number): boolean {
  return p.giveUpAfter !== undefined && streak >= p.giveUpAfter;
}
