// Vault files: XChaCha20-Poly1305 in the STREAM construction, with the AEAD itself run by Node's native
// chacha20-poly1305 (OpenSSL) — libsodium's WASM build only derives the per-file subkey (HChaCha20).
//
// Layout: magic "SECAIVF2" | chunk size u32be | 24-byte random nonce N | chunks, each ciphertext + 16-byte tag.
// Subkey K = HChaCha20(dataKey, N[0..16]); chunk i uses the 12-byte nonce u32be(i) || N[16..24] and
// the associated data header || u64be(i) || final-flag, so reordering, truncation (no chunk flagged
// final) and trailing data all fail authentication. Chunk counts are capped at 2^32.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { getSodium } from '../../common/sodium.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

const MAGIC = Buffer.from('SECAIVF2');
const HEADER = 8 + 4 + 24;
const TAG = 16;
/** Plaintext bytes per chunk (the ratio to openssl is measured in bench/vault.bench.ts). */
export const FILE_CHUNK = 1 << 20;

async function subkey(dataKey: Uint8Array, nonce: Uint8Array): Promise<Buffer> {
  const sodium = await getSodium();
  return Buffer.from(sodium.crypto_core_hchacha20(nonce.subarray(0, 16), dataKey, null));
}

function chunkParams(header: Buffer, i: number, final: boolean): { iv: Buffer; ad: Buffer } {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(i, 0);
  header.copy(iv, 4, 8 + 4 + 16, HEADER);
  const ad = Buffer.alloc(HEADER + 9);
  header.copy(ad, 0);
  ad.writeBigUInt64BE(BigInt(i), HEADER);
  ad[HEADER + 8] = final ? 1 : 0;
  return { iv, ad };
}

function readFull(fd: number, buf: Buffer, len: number, position: number | null = null): number {
  let n = 0;
  while (n < len) {
    const r = readSync(fd, buf, n, len - n, position === null ? null : position + n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

/** Encrypts `src` to `dst` (written to a temp file, fsynced, renamed into place). */
export async function encryptFile(dataKey: Uint8Array, src: string, dst: string, chunk = FILE_CHUNK): Promise<void> {
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(chunk, 8);
  randomBytes(24).copy(header, 12);
  const key = await subkey(dataKey, header.subarray(12));
  const inFd = openSync(src, 'r');
  const tmp = `${dst}.${randomBytes(6).toString('hex')}.tmp`;
  const outFd = openSync(tmp, 'wx', 0o600);
  try {
    writeAll(outFd, header);
    // Read one chunk ahead: the final flag goes on the last chunk, known only once the next read is short.
    let cur = Buffer.alloc(chunk);
    let next = Buffer.alloc(chunk);
    let n = readFull(inFd, cur, chunk);
    for (let i = 0; ; i++) {
      if (i > 0xffffffff) throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, 'file too large for one vault stream');
      const m = n === chunk ? readFull(inFd, next, chunk) : 0;
      const final = m === 0;
      const { iv, ad } = chunkParams(header, i, final);
      const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG });
      c.setAAD(ad, { plaintextLength: n });
      writeAll(outFd, c.update(cur.subarray(0, n)));
      c.final();
      writeAll(outFd, c.getAuthTag());
      if (final) break;
      [cur, next] = [next, cur];
      n = m;
    }
    fsyncSync(outFd);
  } finally {
    key.fill(0);
    closeSync(inFd);
    closeSync(outFd);
  }
  renameSync(tmp, dst);
}

/** Decrypts a vault file; any tampering, reordering, truncation or trailing data fails before the output is renamed into place. */
export async function decryptFile(dataKey: Uint8Array, src: string, dst: string): Promise<void> {
  const fail = (why: string) => new SecaiError(ErrorCode.VAULT_CORRUPT, `vault file does not decrypt: ${why}`);
  const inFd = openSync(src, 'r');
  const tmp = `${dst}.${randomBytes(6).toString('hex')}.tmp`;
  let outFd: number | undefined;
  let key: Buffer | undefined;
  try {
    const size = fstatSync(inFd).size;
    const header = Buffer.alloc(HEADER);
    if (readSync(inFd, header, 0, HEADER, 0) !== HEADER || !header.subarray(0, 8).equals(MAGIC)) throw fail('not a vault file');
    const chunk = header.readUInt32BE(8);
    if (chunk < 1024 || chunk > 64 << 20) throw fail('bad chunk size');
    key = await subkey(dataKey, header.subarray(12));
    outFd = openSync(tmp, 'wx', 0o600);
    const buf = Buffer.alloc(chunk + TAG);
    let pos = HEADER;
    for (let i = 0; ; i++) {
      const want = Math.min(chunk + TAG, size - pos);
      if (want < TAG) throw fail('truncated');
      if (readFull(inFd, buf, want, pos) !== want) throw fail('short read');
      pos += want;
      // The writer flags the last chunk; whatever the file's length says is last must carry that flag,
      // so a file cut at a chunk boundary (or extended by a chunk) fails authentication.
      const final = pos === size;
      const { iv, ad } = chunkParams(header, i, final);
      const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG });
      d.setAAD(ad, { plaintextLength: want - TAG });
      d.setAuthTag(buf.subarray(want - TAG, want));
      const plain = d.update(buf.subarray(0, want - TAG));
      try {
        d.final();
      } catch {
        throw fail('authentication failed (tampered, truncated, extended or reordered)');
      }
      writeAll(outFd, plain);
      if (final) break;
    }
    fsyncSync(outFd);
    closeSync(outFd);
    outFd = undefined;
    renameSync(tmp, dst);
  } catch (err) {
    if (outFd !== undefined) closeSync(outFd);
    rmSync(tmp, { force: true });
    throw err instanceof SecaiError ? err : fail((err as Error).message);
  } finally {
    key?.fill(0);
    closeSync(inFd);
  }
}
