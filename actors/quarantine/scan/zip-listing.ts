// Lists a zip archive's central directory (bounded) and extracts small entries, for evidence on rejected archives.
import { inflateRawSync } from 'node:zlib';
import { readAt } from './file-reader.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The archive's entries, or null when no readable central directory is found. */
export function listZip(fd: number, size: number, maxEntries = 10_000): ZipEntry[] | null {
  const tailLen = Math.min(size, 65_557);
  const tail = readAt(fd, size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) return null;
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset + cdSize > size || cdSize > 64 * 1024 * 1024) return null;
  const cd = readAt(fd, cdOffset, cdSize);
  const out: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < Math.min(count, maxEntries) && p + 46 <= cd.length; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) break;
    const nameLen = cd.readUInt16LE(p + 28);
    const extra = cd.readUInt16LE(p + 30);
    const comment = cd.readUInt16LE(p + 32);
    if (p + 46 + nameLen > cd.length) break;
    out.push({
      name: cd.toString('utf8', p + 46, p + 46 + nameLen),
      method: cd.readUInt16LE(p + 10),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localOffset: cd.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extra + comment;
  }
  return out;
}

/** An entry's bytes (stored or deflated), up to `limit`; null when it cannot be read safely. */
export function readZipEntry(fd: number, size: number, e: ZipEntry, limit = 64 * 1024 * 1024): Buffer | null {
  if (e.localOffset + 30 > size || e.compressedSize > limit) return null;
  const lh = readAt(fd, e.localOffset, 30);
  if (lh.length < 30 || lh.readUInt32LE(0) !== 0x04034b50) return null;
  const start = e.localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
  if (start + e.compressedSize > size) return null;
  const raw = readAt(fd, start, e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method !== 8) return null;
  try {
    return inflateRawSync(raw, { maxOutputLength: limit });
  } catch {
    return null;
  }
}
