// The hash-chained audit log: one JSON line per record, each holding the previous record's hash.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type BigIntStats, closeSync, createReadStream, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { checkFreshness, readAnchor, writeAnchor, type FreshnessFinding } from './chain-anchor.js';

export const GENESIS = '0'.repeat(64);
/**
 * The `stream` of a record the audit actor writes itself to mark a break it found (never a JetStream stream name,
 * which cannot start with `$`): a rolled-back or missing chain stays broken in every later verification.
 */
export const BREAK_STREAM = '$audit';
export const BREAK_SUBJECT = 'secai.evt.audit.chain_broken';

/** What a break record holds: the first finding's reason, and every finding with what was expected and found. */
export interface BreakEvidence {
  reason: string;
  findings: FreshnessFinding[];
  /** Tap streams recreated with new sequences: from this record on, their sequences are a new series. */
  restartedStreams?: string[];
}

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

// A type, not an interface: records travel in replies typed as free-form records (index signature).
export type AuditRecord = {
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
};

export interface ChainHead {
  seq: number;
  hash: string;
  streams: Record<string, number>;
  hmac?: string;
}

export type VerifyResult =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; brokenAt: number; line: number; reason: string; expected?: string; found?: string };

export interface ChainOptions {
  /** The freshness anchor outside the chain's folder (keys/audit.anchor); needs the HMAC key. */
  anchorFile?: string;
  keepRecent?: number;
}

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

interface FileId { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }
const fileIdOf = (st: BigIntStats): FileId => ({ ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs });

/** Appends records durably; one writer per file (the audit actor). */
export class AuditChain {
  readonly file: string;
  readonly headFile: string;
  private seq = 0;
  private last = GENESIS;
  private streams: Record<string, number> = {};
  private seen = new Map<string, SeqSet>();
  private recent: AuditRecord[] = [];
  /**
   * The chain file as this writer left it: another hand that deletes, replaces or edits it changes one of these. A
   * byte flipped in place keeps inode and size but moves mtime and ctime (ctime cannot be set back from user space).
   */
  private fileId: FileId | undefined;
  /** Called when the chain file is not as this writer left it; the caller verifies at once. */
  onTamper: ((what: string) => void) | undefined;
  private readonly keepRecent: number;
  readonly anchorFile: string | undefined;

  constructor(readonly dir: string, private readonly hmacKey?: Uint8Array, o: ChainOptions = {}) {
    this.file = join(dir, 'chain.jsonl');
    this.headFile = join(dir, 'head.json');
    this.keepRecent = o.keepRecent ?? 1000;
    this.anchorFile = o.anchorFile;
    if (this.anchorFile && !hmacKey) throw new SecaiError(ErrorCode.AUDIT_KEY_REQUIRED, 'the audit chain anchor needs the HMAC key');
  }

  /**
   * Loads the chain's end. A torn last line (a crash mid-append) is cut off: that record was never
   * acknowledged to the stream, so JetStream delivers it again. Returns the hash of record `hashOf`, if there is one.
   */
  open(hashOf?: number): { hashAt?: string } {
    const found: { hashAt?: string } = {};
    if (!existsSync(this.file)) {
      writeFileAtomic(this.file, '', 0o600);
      this.rememberFile();
      return found;
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
        if (r.seq === hashOf) found.hashAt = r.hash;
        if (r.stream === BREAK_STREAM) {
          for (const st of (r.payload as Partial<BreakEvidence> | null)?.restartedStreams ?? []) this.forgetStream(st);
        } else {
          this.streams[r.stream] = Math.max(this.streams[r.stream] ?? 0, r.streamSeq);
          this.seqSet(r.stream).add(r.streamSeq);
        }
        this.remember(r);
      } catch {
        // lint-ok: a broken line is verify()'s to report; appending goes on from the last good one
      }
    }
    this.rememberFile();
    return found;
  }

  private rememberFile(fd?: number): void {
    this.fileId = fileIdOf(fd === undefined ? statSync(this.file, { bigint: true }) : fstatSync(fd, { bigint: true }));
  }

  /**
   * Whether the chain file is still the one this writer appended to, at the size it left it. Reports a deletion,
   * a replacement (a restored copy) or an edit made while the actor runs through `onTamper`, once per change.
   */
  checkFile(): string | undefined {
    if (!this.fileId) return undefined;
    let what: string | undefined;
    try {
      const st = fileIdOf(statSync(this.file, { bigint: true }));
      if (st.ino !== this.fileId.ino) what = 'chain.jsonl was replaced while the audit actor held it';
      else if (st.size !== this.fileId.size) what = `chain.jsonl changed size (${this.fileId.size} to ${st.size} bytes) by another hand`;
      else if (st.mtimeNs !== this.fileId.mtimeNs || st.ctimeNs !== this.fileId.ctimeNs) what = `chain.jsonl was written by another hand (same size, ${st.size} bytes; modified at ${new Date(Number(st.mtimeNs / 1_000_000n)).toISOString()})`;
    } catch {
      what = 'chain.jsonl was deleted while the audit actor held it';
    }
    if (what) {
      // Follow the file as it is now, so one change is reported once; the verification judges what it holds.
      try { this.rememberFile(); } catch { this.fileId = { ino: -1n, size: -1n, mtimeNs: -1n, ctimeNs: -1n }; }
      this.onTamper?.(what);
    }
    return what;
  }

  /**
   * Starts a new sequence series for a recreated tap stream: without this, its new messages 1, 2, … would be taken
   * for redeliveries of the old ones and dropped. Called for the break record that names the recreation.
   */
  private forgetStream(stream: string): void {
    delete this.streams[stream];
    this.seen.delete(stream);
  }

  /** The highest stream sequence of every tap stream in the chain. */
  streamSeqs(): Record<string, number> {
    return { ...this.streams };
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

  /**
   * Appends a batch with one fsync, then moves the signed head, then raises the anchor: a kill -9 anywhere in between
   * leaves the chain longer than the anchor (fine), never shorter (a rollback). Returns the records written.
   */
  append(batch: readonly AuditInput[]): AuditRecord[] {
    const out: AuditRecord[] = [];
    const marks: [string, number][] = [];
    const inBatch = new Set<string>();
    const before = { seq: this.seq, last: this.last };
    let text = '';
    for (const m of batch) {
      const key = `${m.stream}\0${m.streamSeq}`;
      if (m.stream === BREAK_STREAM || this.has(m.stream, m.streamSeq) || inBatch.has(key)) continue;
      inBatch.add(key);
      const r = this.record(m.at, m.stream, m.streamSeq, m.subject, m.raw,
        m.payload === undefined ? { $raw: Buffer.from(m.raw).toString('base64') } : JSON.parse(canonicalJson(m.payload)));
      text += JSON.stringify(r) + '\n';
      marks.push([m.stream, m.streamSeq]);
      out.push(r);
    }
    // All or nothing: the stream positions count as written only once the batch is on disk. A failed write (a full
    // disk) leaves no half record and no moved head, so the unacked messages come again and are appended then.
    this.write(text, out, before, () => {
      for (const [stream, n] of marks) {
        this.streams[stream] = Math.max(this.streamSeq(stream), n);
        this.seqSet(stream).add(n);
      }
    });
    return out;
  }

  /**
   * Appends a record that names a break (rollback, deletion, lost records) with its evidence. Appending goes on after
   * it, so no later evidence is lost, and every verification from then on reports the chain broken at this record.
   */
  appendBreak(evidence: BreakEvidence, at: number): AuditRecord {
    for (const st of evidence.restartedStreams ?? []) this.forgetStream(st);
    const payload = JSON.parse(canonicalJson(evidence)) as unknown;
    const before = { seq: this.seq, last: this.last };
    const r = this.record(at, BREAK_STREAM, 0, BREAK_SUBJECT, Buffer.from(canonicalJson(payload)), payload);
    this.write(JSON.stringify(r) + '\n', [r], before);
    return r;
  }

  /** Writes the anchor for the chain as it is (a fresh install anchors its empty chain). */
  raiseAnchor(): void {
    if (this.anchorFile) writeAnchor(this.anchorFile, this.hmacKey!, { seq: this.seq, hash: this.last, streams: this.streams });
  }

  private record(at: number, stream: string, streamSeq: number, subject: string, raw: Uint8Array, payload: unknown): AuditRecord {
    const body = { seq: this.seq + 1, at, stream, streamSeq, subject, sha256: createHash('sha256').update(raw).digest('hex'), payload, prev: this.last };
    const hash = recordHash(body);
    const hmac = mac(this.hmacKey, hash);
    this.seq = body.seq;
    this.last = hash;
    return { ...body, hash, ...(hmac && { hmac }) };
  }

  private write(text: string, out: AuditRecord[], before: { seq: number; last: string }, commit?: () => void): void {
    if (!out.length) return;
    this.checkFile();
    let fd: number;
    try {
      fd = openSync(this.file, 'a', 0o600);
    } catch (err) {
      Object.assign(this, before);
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      try {
        const buf = Buffer.from(text);
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        fsyncSync(fd);
      } catch (err) {
        // ENOSPC mid-batch: cut what was written (truncating needs no space), and forget the records.
        try { ftruncateSync(fd, size); fsyncSync(fd); } catch { /* lint-ok: the torn tail is cut at the next open (open() trims a partial last line) */ }
        Object.assign(this, before);
        throw err;
      }
      this.rememberFile(fd);
    } finally {
      closeSync(fd);
    }
    commit?.();
    out.forEach((r) => this.remember(r));
    // The records are on disk; a head or anchor that cannot be written now is raised by the next append.
    this.writeHead();
    this.raiseAnchor();
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

const keyRequired = () =>
  new SecaiError(ErrorCode.AUDIT_KEY_REQUIRED, 'the audit chain is HMAC-keyed: verifying it without its key (keys/audit.hmac) would prove nothing, so it is refused');

/**
 * Verifies every record: parse, sequence, link to the previous hash, own hash, HMAC; then the head,
 * which catches a truncated tail; then the anchor (when given), which catches a chain restored, replaced or deleted
 * with its head. A break record the audit actor wrote keeps the chain broken. Names the first record that fails.
 * Throws AUDIT_KEY_REQUIRED for a keyed chain without the key: an unkeyed check of a keyed chain is no check.
 */
export async function verifyChain(dir: string, hmacKey?: Uint8Array, o: { anchorFile?: string } = {}): Promise<VerifyResult> {
  const file = join(dir, 'chain.jsonl');
  const headFile = join(dir, 'head.json');
  if (o.anchorFile && !hmacKey) throw keyRequired();
  // The anchor is read before the chain's size is taken: the writer raises it only after the records are on disk.
  const anchor = o.anchorFile ? readAnchor(o.anchorFile, hmacKey!) : undefined;
  const anchored = anchor?.state === 'ok' ? anchor.anchor : undefined;
  const fromAnchor = (length: number, hashAtAnchor: string | undefined, line: number): VerifyResult | undefined => {
    if (!anchor) return undefined;
    const [f] = checkFreshness({ length, ...(hashAtAnchor !== undefined && { hashAtAnchor }), streams: {} }, anchor);
    return f && { ok: false, records: length, brokenAt: Math.min(length + 1, anchored?.seq ?? length + 1), line, reason: f.reason, expected: f.expected, found: f.found };
  };
  if (!existsSync(file)) {
    if (existsSync(headFile)) return { ok: false, records: 0, brokenAt: 1, line: 1, reason: 'chain file is missing but its head exists' };
    return fromAnchor(0, undefined, 1) ?? { ok: true, records: 0, head: GENESIS };
  }
  let head: ChainHead | undefined;
  if (existsSync(headFile)) {
    try {
      head = JSON.parse(readFileSync(headFile, 'utf8')) as ChainHead;
    } catch {
      return { ok: false, records: 0, brokenAt: 1, line: 0, reason: 'chain head is unreadable' };
    }
    if (!hmacKey && head.hmac !== undefined) throw keyRequired();
    if (hmacKey && !safeEqualHex(headMac(hmacKey, head), head.hmac)) return { ok: false, records: 0, brokenAt: head.seq, line: 0, reason: 'chain head has a bad HMAC' };
  }
  // The chain as it is now: the writer appends while this reads, and bytes it is still writing must not be read as a
  // broken record. In the audit actor appends are synchronous, so this size ends on a whole record; every record the
  // head signed is inside it (the head is written after its records).
  const size = statSync(file).size;
  let prev = GENESIS;
  let n = 0;
  let lineNo = 0;
  let hashAtAnchor: string | undefined;
  let firstBreak: { seq: number; line: number; evidence: Partial<BreakEvidence> } | undefined;
  let lastBreak: typeof firstBreak;
  let breaks = 0;
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
    if (!hmacKey && hmac !== undefined) throw keyRequired();
    if (hmacKey && !safeEqualHex(mac(hmacKey, hash), hmac)) return broken(`record ${r.seq} has a bad HMAC`);
    if (head && r.seq === head.seq && r.hash !== head.hash) return broken(`record ${r.seq} is not the record the chain head signed`);
    if (anchored && r.seq === anchored.seq) hashAtAnchor = r.hash;
    if (r.stream === BREAK_STREAM) {
      breaks++;
      lastBreak = { seq: r.seq, line: lineNo, evidence: (r.payload ?? {}) as Partial<BreakEvidence> };
      firstBreak ??= lastBreak;
    }
    prev = hash;
    n++;
  }
  if (head) {
    // The head trails the file by at most one batch after a crash; a head beyond the file means records were cut off.
    if (head.seq > n) return { ok: false, records: n, brokenAt: n + 1, line: lineNo + 1, reason: `chain ends at record ${n} but its head says ${head.seq}: records were removed from the end` };
  } else if (n > 0) {
    return { ok: false, records: n, brokenAt: n, line: lineNo, reason: 'chain head is missing' };
  }
  const stale = fromAnchor(n, hashAtAnchor, lineNo + 1);
  if (stale) return stale;
  if (firstBreak) {
    const f = firstBreak.evidence.findings?.[0];
    const why = (b: NonNullable<typeof firstBreak>, max: number) => String(b.evidence.reason ?? 'no reason given').slice(0, max);
    // The first break is where the chain stopped being trustworthy; the latest is what the last start found.
    const more = lastBreak && breaks > 1 ? `; ${breaks - 1} later break record${breaks > 2 ? 's' : ''}, the latest at record ${lastBreak.seq}: ${why(lastBreak, 380)}` : '';
    return {
      ok: false, records: n, brokenAt: firstBreak.seq, line: firstBreak.line,
      reason: `record ${firstBreak.seq} records a break found by the audit actor: ${why(firstBreak, more ? 420 : 900)}${more}`,
      ...(typeof f?.expected === 'string' && { expected: f.expected.slice(0, 256) }),
      ...(typeof f?.found === 'string' && { found: f.found.slice(0, 256) }),
    };
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
