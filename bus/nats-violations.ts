// Reads nats-server's permission-violation lines and reports each (identity, subject, kind) once per window, with a count.

export type ViolationKind = 'publish' | 'subscribe';

/** One violation as nats-server logged it: the connection's nkey (its identity) and the subject it was refused. */
export interface ViolationLine {
  nkey: string;
  subject: string;
  kind: ViolationKind;
}

/** What the supervisor publishes as `permission_violation`: `count` violations of this pair since the last report. */
export interface ViolationReport {
  identity: string;
  subject: string;
  kind: ViolationKind;
  at: number;
  count: number;
}

/**
 * nats-server 2.9 writes, for a refused publish or subscription (the test produces both for real):
 *   `[pid] date [ERR] 127.0.0.1:44730 - cid:4 - "v3.4.0:nats.js:gateway" - Publish Violation - Nkey "UBSI…", Subject "secai.evt.vault.unlocked"`
 *   `… - Subscription Violation - Nkey "UBSI…", Subject "secai.vault.unlock", SID 1`
 * The quoted client name is chosen by the client and may hold spaces and quotes, so the match is anchored at the
 * end of the line: a subject holds no whitespace (the protocol splits on it), so a forged "Violation - Nkey …" in a
 * client name can never be the part that matches. The identity comes from the nkey, never from the name.
 */
const VIOLATION = / - (Publish|Subscription) Violation - (?:Nkey|User) "([A-Z0-9]{1,64})", Subject "(\S{0,1024})"(?:, (?:Queue "\S*", )?SID \S+)?$/;

export function parseViolation(line: string): ViolationLine | undefined {
  if (!line.includes('Violation')) return undefined;
  const m = VIOLATION.exec(line.trimEnd());
  if (!m) return undefined;
  return { kind: m[1] === 'Publish' ? 'publish' : 'subscribe', nkey: m[2]!, subject: m[3]! };
}

export interface ViolationReporterOptions {
  /** The identity an nkey belongs to (the bus identities); an unknown key is reported as `unknown:<key prefix>`. */
  identityOf: (nkey: string) => string | undefined;
  report: (r: ViolationReport) => void;
  /** One report per identity+subject+kind per window; the rest are counted into the next (default 10 s). */
  windowMs?: number;
  /** Distinct pairs tracked per window; past it, violations fold into one `*` subject per identity and kind. */
  maxKeys?: number;
  now?: () => number;
}

interface Pending { identity: string; subject: string; kind: ViolationKind; count: number; at: number }

/**
 * A stolen identity may publish a million forbidden messages a second: each (identity, subject, kind) is reported
 * at once the first time in a window, and what follows is counted and reported once when the window ends.
 */
export class ViolationReporter {
  private readonly o: Required<Omit<ViolationReporterOptions, 'now'>> & { now: () => number };
  /** Keys reported in this window, with what has arrived since the report. */
  private seen = new Map<string, Pending>();
  private readonly timer: NodeJS.Timeout;

  constructor(opts: ViolationReporterOptions) {
    this.o = { windowMs: 10_000, maxKeys: 256, now: Date.now, ...opts };
    this.timer = setInterval(() => this.flush(), this.o.windowMs);
    this.timer.unref();
  }

  note(v: ViolationLine): void {
    const identity = this.o.identityOf(v.nkey) ?? `unknown:${v.nkey.slice(0, 12)}`;
    let subject = v.subject.slice(0, 256);
    let key = `${identity}\u0000${v.kind}\u0000${subject}`;
    if (!this.seen.has(key) && this.seen.size >= this.o.maxKeys) {
      subject = '*';
      key = `${identity}\u0000${v.kind}\u0000*`;
    }
    const p = this.seen.get(key);
    if (p) { p.count++; return; }
    const at = this.o.now();
    this.seen.set(key, { identity, subject, kind: v.kind, count: 0, at });
    this.o.report({ identity, subject, kind: v.kind, at, count: 1 });
  }

  /**
   * Ends the window: each pair that saw more after its last report is reported once with that count and stays
   * tracked (a steady flood is one report per window); a pair that went quiet is forgotten.
   */
  flush(): void {
    for (const [key, p] of this.seen) {
      if (p.count === 0) { this.seen.delete(key); continue; }
      this.o.report({ identity: p.identity, subject: p.subject, kind: p.kind, at: this.o.now(), count: p.count });
      p.count = 0;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
