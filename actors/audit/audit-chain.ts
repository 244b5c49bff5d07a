// The hash-chained audit log: one JSON line per record, each holding the previous record's hash.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';

export const GENESIS = '0'.repeat(64);

export interface AuditInput {
  stream: string;
  streamSeq: number;
  subject: string;
  /** The message bytes as they crossed the bus. */
  raw: Uint8Array;
  /** The decoded payload (JSON-safe), or undefined when it did not decode. */
  payload: unknown;
  at: number;
}

export interface AuditRecord {
  seq: number;
  at: number;
  stream: string;
  streamSeq: number;
  subject: string;
  sha256: string;
  payload: unknown;
  prev: string;
  hash: string;
  hmac?: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
  streams: Record<string, number>;
  hmac?: string;
}

export type VerifyResult =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; brokenAt: number; line: number; reason: string };

function recordHash(r: Omit<AuditRecord, 'hash' | 'hmac'>): string {
  return createHash('sha256').update(canonicalJson(r)).digest('hex');
}

function mac(key: Uint8Array | undefined, text: string): string | undefined {
  return key ? createHmac('sha256', key).update(text).digest('hex') : undefined;
}

function headMac(key: Uint8Array | undefined, h: Omit<ChainHead, 'hmac'>): string | undefined {
  return mac(key, canonicalJson({ seq: h.seq, hash: h.hash, streams: h.streams }));
}

function safeEqualHex(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Appends records durably; one writer per file (the audit actor). */
export class AuditChain {
  readonly file: string;
  readonly headFile: string;
  private seq = 0;
  private last = GENESIS;
  private streams: Record<string, number> = {};
  private seen = new Map<string, SeqSet>();
  private recent: AuditRecord[] = [];

  constructor(readonly dir: string, private readonly hmacKey?: Uint8Array, private readonly keepRecent = 1000) {
    this.file = join(dir, 'chain.jsonl');
    this.headFile = join(dir, 'head.json');
  }

  /**
   * Loads the chain's end. A torn last line (a crash mid-append) is cut off: that record was never
   * acknowledged to the stream, so JetStream delivers it again.
   */
  open(): void {
    if (!existsSync(this.file)) {
      writeFileAtomic(this.file, '', 0o600);
      return;
    }
    const text = readFileSync(this.file, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      const fd = openSync(this.file, 'r+');
      try { ftruncateSync(fd, Buffer.byteLength(text.slice(0, end))); fsyncSync(fd); } finally { closeSync(fd); }
    }
    for (const line of text.slice(0, end).split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as AuditRecord;
        this.seq = r.seq;
        this.last = r.hash;
        this.streams[r.stream] = Math.max(this.streams[r.stream] ?? 0, r.streamSeq);
        this.seqSet(r.stream).add(r.streamSeq);
        this.remember(r);
      } catch {
        // a broken line is verify()'s to report; appending goes on from the last good one
      }
    }
  }

  /** The highest stream sequence already in the chain. */
  streamSeq(stream: string): number {
    return this.streams[stream] ?? 0;
  }

  /** Whether a stream message is already in the chain (redeliveries may come after newer messages). */
  has(stream: string, streamSeq: number): boolean {
    return this.seqSet(stream).has(streamSeq);
  }

  private seqSet(stream: string): SeqSet {
    let s = this.seen.get(stream);
    if (!s) this.seen.set(stream, (s = new SeqSet()));
    return s;
  }

  /** Appends a batch with one fsync, then moves the signed head. Returns the records written. */
  append(batch: readonly AuditInput[]): AuditRecord[] {
    const out: AuditRecord[] = [];
    let text = '';
    for (const m of batch) {
      if (this.has(m.stream, m.streamSeq)) continue;
      const body = {
        seq: this.seq + 1, at: m.at, stream: m.stream, streamSeq: m.streamSeq, subject: m.subject,
        sha256: createHash('sha256').update(m.raw).digest('hex'),
        payload: m.payload === undefined ? { $raw: Buffer.from(m.raw).toString('base64') } : JSON.parse(canonicalJson(m.payload)),
        prev: this.last,
      };
      const hash = recordHash(body);
      const hmac = mac(this.hmacKey, hash);
      const r: AuditRecord = { ...body, hash, ...(hmac && { hmac }) };
      text += JSON.stringify(r) + '\n';
      this.seq = r.seq;
      this.last = hash;
      this.streams[m.stream] = Math.max(this.streamSeq(m.stream), m.streamSeq);
      this.seqSet(m.stream).add(m.streamSeq);
      out.push(r);
    }
    if (!out.length) return out;
    const fd = openSync(this.file, 'a', 0o600);
    try {
      const buf = Buffer.from(text);
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.writeHead();
    out.forEach((r) => this.remember(r));
    return out;
  }

  tail(n: number): AuditRecord[] {
    return this.recent.slice(-n);
  }

  get length(): number {
    return this.seq;
  }

  private remember(r: AuditRecord): void {
    this.recent.push(r);
    if (this.recent.length > this.keepRecent) this.recent.splice(0, this.recent.length - this.keepRecent);
  }

  private writeHead(): void {
    const h = { seq: this.seq, hash: this.last, streams: this.streams };
    const hm = headMac(this.hmacKey, h);
    writeFileAtomic(this.headFile, JSON.stringify({ ...h, ...(hm && { hmac: hm }) }) + '\n', 0o600);
  }
}

/**
 * Verifies every record: parse, sequence, link to the previous hash, own hash, HMAC; then the head,
 * which catches a truncated tail. Names the first record that fails.
 */
export async function verifyChain(dir: string, hmacKey?: Uint8Array): Promise<VerifyResult> {
  const file = join(dir, 'chain.jsonl');
  const headFile = join(dir, 'head.json');
  if (!existsSync(file)) {
    return existsSync(headFile)
      ? { ok: false, records: 0, brokenAt: 1, line: 1, reason: 'chain file is missing but its head exists' }
      : { ok: true, records: 0, head: GENESIS };
  }
  let head: ChainHead | undefined;
  if (existsSync(headFile)) {
    try {
      head = JSON.parse(readFileSync(headFile, 'utf8')) as ChainHead;
    } catch {
      return { ok: false, records: 0, brokenAt: 1, line: 0, reason: 'chain head is unreadable' };
    }
    if (hmacKey && !safeEqualHex(headMac(hmacKey, head), head.hmac)) return { ok: false, records: 0, brokenAt: head.seq, line: 0, reason: 'chain head has a bad HMAC' };
  }
  // The chain as it is now: the writer appends while this reads, and bytes it is still writing must not be read as a
  // broken record. In the audit actor appends are synchronous, so this size ends on a whole record; every record the
  // head signed is inside it (the head is written after its records).
  const size = statSync(file).size;
  let prev = GENESIS;
  let n = 0;
  let lineNo = 0;
  const broken = (reason: string): VerifyResult => ({ ok: false, records: n, brokenAt: n + 1, line: lineNo, reason });
  const input = size > 0 ? createReadStream(file, { encoding: 'utf8', start: 0, end: size - 1 }) : Readable.from([]);
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    lineNo++;
    if (!line) return broken(`line ${lineNo} is empty`);
    let r: AuditRecord;
    try {
      r = JSON.parse(line) as AuditRecord;
    } catch {
      return broken(`record ${n + 1} (line ${lineNo}) is not valid JSON`);
    }
    if (r.seq !== n + 1) return broken(`record ${n + 1} (line ${lineNo}) has sequence ${r.seq}: a record was removed, inserted or reordered`);
    if (r.prev !== prev) return broken(`record ${r.seq} does not link to record ${n} (prev hash mismatch)`);
    const { hash, hmac, ...body } = r;
    if (recordHash(body) !== hash) return broken(`record ${r.seq} was modified (hash mismatch)`);
    if (hmacKey && !safeEqualHex(mac(hmacKey, hash), hmac)) return broken(`record ${r.seq} has a bad HMAC`);
    if (head && r.seq === head.seq && r.hash !== head.hash) return broken(`record ${r.seq} is not the record the chain head signed`);
    prev = hash;
    n++;
  }
  if (head) {
    // The head trails the file by at most one batch after a crash; a head beyond the file means records were cut off.
    if (head.seq > n) return { ok: false, records: n, brokenAt: n + 1, line: lineNo + 1, reason: `chain ends at record ${n} but its head says ${head.seq}: records were removed from the end` };
  } else if (n > 0) {
    return { ok: false, records: n, brokenAt: n, line: lineNo, reason: 'chain head is missing' };
  }
  return { ok: true, records: n, head: prev };
}

/** A set of sequence numbers kept small: everything at or below `floor` is in, plus the gaps' far side. */
class SeqSet {
  private floor = 0;
  private above = new Set<number>();

  has(n: number): boolean {
    return n <= this.floor || this.above.has(n);
  }

  add(n: number): void {
    if (this.has(n)) return;
    this.above.add(n);
    while (this.above.delete(this.floor + 1)) this.floor++;
  }
}

export function chainSize(dir: string): number {
  const f = join(dir, 'chain.jsonl');
  return existsSync(f) ? statSync(f).size : 0;
}
