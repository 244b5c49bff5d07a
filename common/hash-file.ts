// SHA-256 of a file with one reused buffer: the integrity scan's hot loop (bench/integrity.bench.ts measures it against
// sha256sum), the attestor's measurement, the registry's and the quarantine's digests and the worker's model check.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { constants, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ErrorCode, SecaiError } from './errors.js';

/** 4 MiB reads: fewer system calls than a stream's 64 KiB chunks, and the hash runs at SHA-NI speed. */
const CHUNK = 4 << 20;

/**
 * A reader that owns one buffer: a scan hashes its files one after another with it. With `noFollow` (the integrity
 * scan, which records links as links) a file swapped for a link is not followed (O_NOFOLLOW) but fails.
 */
export function fileHasher(o: { noFollow?: boolean; chunk?: number } = {}): (path: string) => Promise<{ sha256: string; size: number }> {
  const chunk = o.chunk ?? CHUNK;
  const buf = Buffer.allocUnsafe(chunk);
  const flags = constants.O_RDONLY | (o.noFollow ? constants.O_NOFOLLOW : 0);
  return async (path) => {
    const fh = await open(path, flags);
    try {
      const h = createHash('sha256');
      let size = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, chunk, null);
        if (bytesRead === 0) break;
        h.update(bytesRead === chunk ? buf : buf.subarray(0, bytesRead));
        size += bytesRead;
      }
      return { sha256: h.digest('hex'), size };
    } finally {
      await fh.close();
    }
  };
}

/** One file's SHA-256 (hex), following links; a caller hashing many files keeps one `fileHasher()` instead. */
export async function sha256File(path: string): Promise<string> {
  return (await fileHasher({ chunk: 1 << 20 })(path)).sha256;
}

/** Every regular file under `root` with its SHA-256, in path order ('/'-separated relative paths); anything else refuses. */
export async function folderFiles(root: string): Promise<{ rel: string; sha256: string }[]> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile()) files.push(abs);
      else throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${abs} is not a regular file`);
    }
  };
  walk(root);
  const rels = files.map((f) => relative(root, f).split(sep).join('/')).sort();
  const hash = fileHasher(); // one buffer for the whole folder
  const out: { rel: string; sha256: string }[] = [];
  for (const rel of rels) out.push({ rel, sha256: (await hash(join(root, rel))).sha256 });
  return out;
}

/** A folder's digest, as stage 3 and the registry compute it: SHA-256 over "path\0sha256\n" of its files in path order. */
export function folderDigest(files: readonly { rel: string; sha256: string }[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.rel}\0${f.sha256}\n`);
  return h.digest('hex');
}
