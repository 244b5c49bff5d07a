// Aggregates allow decisions per (domain, rule) so the audit chain gets evidence of them without a flood.

export interface AllowSummary {
  since: number;
  until: number;
  policyDigest: string;
  counts: { domain: string; rule: string; n: number }[];
}

export class AllowCounter {
  private counts = new Map<string, { domain: string; rule: string; n: number }>();
  private since: number;

  constructor(private readonly now: () => number = Date.now) {
    this.since = now();
  }

  add(domain: string, rule: string): void {
    const key = `${domain}\u0000${rule}`;
    const c = this.counts.get(key);
    if (c) c.n++;
    else if (this.counts.size < 1024) this.counts.set(key, { domain, rule, n: 1 });
  }

  /** The counts so far (or undefined when there were none), and a fresh window. */
  take(policyDigest: string): AllowSummary | undefined {
    const until = this.now();
    const out = this.counts.size ? { since: this.since, until, policyDigest, counts: [...this.counts.values()] } : undefined;
    this.counts = new Map();
    this.since = until;
    return out;
  }
}
