// Token buckets per tool: a burst of `capacity` calls, refilled at `refillPerSec`; the clock is injected.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly capacity: number, readonly refillPerSec: number, now: number) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.refillPerSec);
    this.last = Math.max(this.last, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Buckets keyed by rule; a policy change of a rule's rate starts its bucket afresh. */
export class RateLimiter {
  private buckets = new Map<string, TokenBucket>();

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, capacity: number, refillPerSec: number): boolean {
    let b = this.buckets.get(key);
    if (!b || b.capacity !== capacity || b.refillPerSec !== refillPerSec) {
      b = new TokenBucket(capacity, refillPerSec, this.now());
      this.buckets.set(key, b);
    }
    return b.take(this.now());
  }
}
