// Login throttling: free attempts, then doubling delays, then a lockout; pure functions of the state and a clock.
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface LoginPolicy {
  free_attempts: number;
  base_delay_seconds: number;
  max_delay_seconds: number;
  lockout_after: number;
  lockout_minutes: number;
}

/** Consecutive failures and when the last one happened; persisted so a restart does not reset it. */
export interface LimiterState {
  failures: number;
  lastFailureAt: number;
}

export const FRESH: LimiterState = { failures: 0, lastFailureAt: 0 };

/** How long after the last failure the next attempt must wait, given `failures` consecutive failures. */
export function delayMs(failures: number, p: LoginPolicy): number {
  if (failures >= p.lockout_after) return p.lockout_minutes * 60_000;
  if (failures <= p.free_attempts) return 0;
  const n = failures - p.free_attempts - 1;
  return Math.min(p.base_delay_seconds * 1000 * 2 ** Math.min(n, 30), p.max_delay_seconds * 1000);
}

export function nextAllowedAt(s: LimiterState, p: LoginPolicy): number {
  return s.failures === 0 ? 0 : s.lastFailureAt + delayMs(s.failures, p);
}

/** Throws RATE_LIMITED (with the wait) when an attempt now is too early; checked before any key derivation. */
export function checkAttempt(s: LimiterState, p: LoginPolicy, now: number): void {
  const at = nextAllowedAt(s, p);
  if (now < at) {
    const secs = Math.ceil((at - now) / 1000);
    const what = s.failures >= p.lockout_after ? `locked out after ${s.failures} failed attempts` : `${s.failures} failed attempts`;
    throw new SecaiError(ErrorCode.RATE_LIMITED, `${what}: try again in ${secs} s`);
  }
}

export function recordFailure(s: LimiterState, now: number): LimiterState {
  return { failures: s.failures + 1, lastFailureAt: now };
}
