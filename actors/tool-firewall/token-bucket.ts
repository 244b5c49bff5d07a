// Token buckets per rule, for callers outside the actor (tests, tools): the same pure arithmetic the tool-firewall machine holds in its context.
import { takeToken, type Bucket } from '../../machines/tool-firewall/tool-firewall.machine.js';

/** Buckets keyed by rule; a policy change of a rule's rate starts its bucket afresh. */
export class RateLimiter {
  private buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, capacity: number, refillPerSec: number): boolean {
    const r = takeToken(this.buckets.get(key), capacity, refillPerSec, this.now());
    this.buckets.set(key, r.bucket);
    return r.taken;
  }
}
