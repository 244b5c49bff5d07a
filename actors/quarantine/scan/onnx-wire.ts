// Protobuf's wire format read from a file, bounded: varints, tags, length prefixes checked against their enclosing
// message before anything is read, UTF-8 strings under a limit (protobuf.dev/programming-guides/encoding).
import { FileCursor, readAt } from './file-reader.js';
import { reject } from './parse-error.js';

/** Wire types this reader accepts (3 and 4, groups, are refused). */
export const WIRE = { varint: 0, fixed64: 1, len: 2, fixed32: 5 } as const;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A cursor over the file that reads protobuf's wire format: what a message means is its caller's business. */
export class WireReader {
  constructor(readonly fd: number, readonly c: FileCursor) {}

  varint(what: string): number {
    let v = 0, mul = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.c.u8(what);
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    // Past 49 bits, exact arithmetic: a 10-byte varint is a negative int64 or an absurd value.
    let big = BigInt(v);
    for (let i = 7; i < 10; i++) {
      const b = this.c.u8(what);
      if (i === 9 && b > 1) reject('bad_varint', `${what}: varint overflows 64 bits at offset ${this.c.pos - 1}`);
      big += BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return Number(BigInt.asIntN(64, big));
    }
    return reject('bad_varint', `${what}: varint longer than 10 bytes at offset ${this.c.pos}`);
  }

  tag(what: string): { field: number; wire: number } {
    const at = this.c.pos;
    const t = this.varint(`${what} tag`);
    const field = Math.floor(t / 8), wire = t % 8;
    if (t <= 0 || field === 0 || field >= 2 ** 29) reject('bad_tag', `${what}: invalid field tag ${t} at offset ${at}`);
    if (wire === 3 || wire === 4 || wire > 5) reject('bad_wire_type', `${what}: wire type ${wire} (groups and unknown types are refused) at offset ${at}`);
    return { field, wire };
  }

  /** A length prefix, checked against the end of its enclosing message before anything is read. */
  len(end: number, what: string): number {
    const at = this.c.pos;
    const n = this.varint(`${what} length`);
    if (n < 0 || n > end - this.c.pos) reject('truncated', `${what}: length ${n} at offset ${at} runs past the end of its ${end === this.c.size ? 'file' : 'message'} (${end - this.c.pos} bytes left)`);
    return n;
  }

  /** Reads a length prefix and returns where the field ends. */
  sub(end: number, what: string): number {
    const n = this.len(end, what);
    return this.c.pos + n;
  }

  expect(wire: number, want: number, field: number, what: string): void {
    if (wire !== want) reject('bad_wire_type', `${what}: field ${field} has wire type ${wire}, expected ${want}`);
  }

  str(end: number, limit: number, what: string): string {
    const n = this.len(end, what);
    if (n > limit) reject('string_too_long', `${what} is ${n} bytes, over the ${limit}-byte limit`);
    if (n === 0) return '';
    try {
      return utf8Decoder.decode(this.c.bytes(n, what));
    } catch {
      return reject('bad_utf8', `${what} is not valid UTF-8`);
    }
  }

  /** Skips a length-delimited field whose content we do not need (doc strings, annotations), after checking its length. */
  skipLen(end: number, what: string): void {
    this.c.skip(this.len(end, what), what);
  }

  skipScalar(wire: number, what: string): void {
    if (wire === WIRE.varint) this.varint(what);
    else if (wire === WIRE.fixed32) this.c.skip(4, what);
    else if (wire === WIRE.fixed64) this.c.skip(8, what);
  }

  /** Runs `body(field, wire)` for every field up to `end`; the body consumes each field or refuses it. */
  fields(end: number, what: string, body: (field: number, wire: number) => void): void {
    while (this.c.pos < end) {
      const { field, wire } = this.tag(what);
      body(field, wire);
      if (this.c.pos > end) reject('truncated', `${what}: a field runs past the end of its message`);
    }
  }

  once(seen: Set<number>, field: number, what: string): void {
    if (seen.has(field)) reject('duplicate_field', `${what}: field ${field} occurs twice (two parsers could keep different copies)`);
    seen.add(field);
  }
}

/** Counts the varints in a packed region without keeping them (it must end on a varint's last byte). */
export function countVarints(r: WireReader, offset: number, length: number, what: string): number {
  let count = 0, last = 0;
  for (let p = 0; p < length; p += 1 << 16) {
    const chunk = readAt(r.fd, offset + p, Math.min(1 << 16, length - p));
    if (chunk.length === 0) reject('truncated', `${what}: file shorter than its packed data`);
    for (const b of chunk) if (b < 0x80) count++;
    last = chunk[chunk.length - 1]!;
  }
  if (length > 0 && last >= 0x80) reject('bad_varint', `${what}: packed data ends inside a varint`);
  return count;
}

/** A varint of at most 7 bytes at `b[at]`, or null when it is longer or runs past `b`. */
export function varintAt(b: Uint8Array, at: number): { value: number; size: number } | null {
  let v = 0, mul = 1;
  for (let i = 0; i < 7 && at + i < b.length; i++) {
    const x = b[at + i]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return { value: v, size: i + 1 };
    mul *= 128;
  }
  return null;
}
