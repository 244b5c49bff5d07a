// nats-server's log, written by the supervisor from the server's stderr: bounded in size, per-connection noise summarised.
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

export interface NatsLogOptions {
  file: string;
  /** The file is rotated to `<file>.1` (one old copy) past this size: both together stay under 2 × maxBytes. */
  maxBytes?: number;
  /** Per-connection lines written in full per window; the rest are counted and summarised. */
  perConnectionBurst?: number;
  windowMs?: number;
  now?: () => number;
  /** Every complete line, before any is summarised: the supervisor reads permission violations here. */
  onLine?: (line: string) => void;
}

export const NATS_LOG_DEFAULTS = { maxBytes: 4 * 1024 * 1024, perConnectionBurst: 20, windowMs: 10_000 } as const;

/**
 * A line about one client connection (`- cid:N -`: refused for max connections, an auth failure, a
 * parser error, a permission violation) is written by nats-server once per connection, so anyone
 * who can open sockets decides how many there are. The first few per window stay visible in full
 * (a real failure is seen); the rest become one summary line with counts per kind.
 */
const PER_CONNECTION = / - cid:\d+ - /;
const MAX_KINDS = 8;

export class NatsLog {
  private fd: number;
  private size: number;
  private partial = '';
  private windowStart: number;
  private inWindow = 0;
  private suppressed = new Map<string, number>();
  private readonly o: Required<Omit<NatsLogOptions, 'now' | 'onLine'>> & Pick<NatsLogOptions, 'onLine'> & { now: () => number };
  private readonly timer: NodeJS.Timeout;

  constructor(opts: NatsLogOptions) {
    this.o = { ...NATS_LOG_DEFAULTS, now: Date.now, ...opts };
    this.fd = openSync(this.o.file, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    this.windowStart = this.o.now();
    // A flood that stops still gets its summary written, without waiting for the next line.
    this.timer = setInterval(() => this.rollWindow(), this.o.windowMs);
    this.timer.unref();
  }

  /** Takes raw stderr chunks; only complete lines are written. */
  write(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split('\n');
    this.partial = (lines.pop() ?? '').slice(-16 * 1024);
    for (const line of lines) this.line(line);
  }

  /** Writes what is pending (a partial line, a summary) and closes the file. */
  close(): void {
    clearInterval(this.timer);
    if (this.partial) this.line(this.partial);
    this.partial = '';
    this.summarise();
    closeSync(this.fd);
  }

  private line(line: string): void {
    this.o.onLine?.(line);
    if (this.o.now() - this.windowStart >= this.o.windowMs) this.rollWindow();
    if (PER_CONNECTION.test(line)) {
      if (this.inWindow >= this.o.perConnectionBurst) {
        const kind = kindOf(line);
        const key = this.suppressed.has(kind) || this.suppressed.size < MAX_KINDS ? kind : 'other';
        this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
        return;
      }
      this.inWindow++;
    }
    this.append(line.slice(0, 4096) + '\n');
  }

  private rollWindow(): void {
    this.summarise();
    this.windowStart = this.o.now();
    this.inWindow = 0;
  }

  private summarise(): void {
    if (this.suppressed.size === 0) return;
    let total = 0;
    const kinds: string[] = [];
    for (const [k, n] of this.suppressed) { total += n; kinds.push(`${n} × ${k}`); }
    this.suppressed.clear();
    this.append(`[secai] ${new Date(this.o.now()).toISOString()} [WRN] ${total} more per-connection lines not written (past ${this.o.perConnectionBurst} per ${this.o.windowMs / 1000} s; a connection flood?): ${kinds.join('; ')}\n`);
  }

  private append(text: string): void {
    const bytes = Buffer.from(text);
    if (this.size + bytes.length > this.o.maxBytes && this.size > 0) this.rotate();
    writeSync(this.fd, bytes);
    this.size += bytes.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    // One old copy: renaming over it drops the oldest, so the two files together stay bounded.
    renameSync(this.o.file, `${this.o.file}.1`);
    this.fd = openSync(this.o.file, 'a', 0o600);
    this.size = 0;
  }
}

/** What the line says about its connection, without the address, cid or quoted protocol bytes. */
function kindOf(line: string): string {
  const rest = line.split(PER_CONNECTION)[1] ?? line;
  return rest.replace(/'[^']*'|"[^"]*"/g, '…').replace(/\d+/g, 'N').slice(0, 80);
}
