// Positional, bounds-checked reads from an open file: nothing is read past what the caller asked for and the file holds.
import { readSync } from 'node:fs';
import { reject } from './parse-error.js';

/** A forward cursor over a file with a window buffer; every read is checked against the file size and a byte budget. */
export class FileCursor {
  private buf: Buffer;
  private bufStart = 0;
  private bufLen = 0;
  pos = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly budget: number, window = 1 << 16) {
    this.buf = Buffer.alloc(window);
  }

  /** Ensures `n` bytes at the cursor are in the window, or refuses (truncation, or the header budget). */
  private need(n: number, what: string): number {
    if (this.pos + n > this.size) reject('truncated', `file ends inside ${what} (offset ${this.pos}, needs ${n} bytes)`);
    if (this.pos + n > this.budget) reject('header_too_large', `header exceeds the ${this.budget}-byte limit while reading ${what}`);
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.bufLen) return rel;
    if (n > this.buf.length) this.buf = Buffer.alloc(Math.max(n, this.buf.length * 2));
    this.bufStart = this.pos;
    const want = Math.min(this.buf.length, this.size - this.pos);
    let got = 0;
    while (got < want) {
      const r = readSync(this.fd, this.buf, got, want - got, this.pos + got);
      if (r === 0) break;
      got += r;
    }
    this.bufLen = got;
    if (got < n) reject('truncated', `file shorter than its size while reading ${what}`);
    return 0;
  }

  u8(what: string): number { const r = this.need(1, what); this.pos += 1; return this.buf[r]!; }
  u32(what: string): number { const r = this.need(4, what); this.pos += 4; return this.buf.readUInt32LE(r); }
  u64(what: string): bigint { const r = this.need(8, what); this.pos += 8; return this.buf.readBigUInt64LE(r); }
  bytes(n: number, what: string): Buffer { const r = this.need(n, what); this.pos += n; return Buffer.from(this.buf.subarray(r, r + n)); }
  skip(n: number, what: string): void {
    if (n <= 1 << 16) { this.need(n, what); this.pos += n; return; }
    if (this.pos + n > this.size) reject('truncated', `file ends inside ${what}`);
    if (this.pos + n > this.budget) reject('header_too_large', `header exceeds the ${this.budget}-byte limit while reading ${what}`);
    this.pos += n;
  }
}

/** Reads exactly `n` bytes at `pos` (or fewer at end of file). */
export function readAt(fd: number, pos: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, b, got, n - got, pos + got);
    if (r === 0) break;
    got += r;
  }
  return b.subarray(0, got);
}
