// Takes an incoming file or folder into quarantine/work/<id>/: a private copy, so the user cannot swap it mid-scan.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, cpSync, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { SIDECAR_SUFFIXES } from './stages/provenance.js';
import type { Artifact, ArtifactOrigin } from './stages/types.js';

export const newJobId = (): string => `q${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

/** A registry name from a file name: extension dropped, anything outside [A-Za-z0-9._:-] replaced. */
export function modelName(fileName: string): string {
  const stem = fileName.replace(/\.(gguf|safetensors)$/i, '');
  const clean = stem.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 120);
  return /^[A-Za-z0-9]/.test(clean) ? clean : `m${clean}`.slice(0, 120);
}

/** Size of a file, or of a folder's regular files (links are not followed, only counted). */
export function measure(path: string): { kind: 'file' | 'folder'; size: number; newestMs: number; count: number } {
  let st;
  try { st = lstatSync(path); } catch (err) {
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (st.isSymbolicLink()) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} is a symbolic link: links are never followed`);
  if (st.isFile()) return { kind: 'file', size: st.size, newestMs: st.mtimeMs, count: 1 };
  if (!st.isDirectory()) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} is not a regular file or folder`);
  let size = 0, newestMs = st.mtimeMs, count = 0;
  const walk = (dir: string, depth: number) => {
    if (depth > 8) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} is nested deeper than 8 levels`);
    for (const e of readdirSync(dir)) {
      const s = lstatSync(join(dir, e));
      count++;
      if (count > 10_000) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} holds more than 10000 entries`);
      newestMs = Math.max(newestMs, s.mtimeMs);
      if (s.isDirectory()) walk(join(dir, e), depth + 1);
      else size += s.size;
    }
  };
  walk(path, 0);
  return { kind: 'folder', size, newestMs, count };
}

export interface IngestOptions {
  workDir: string;
  maxFileBytes: number;
  maxFolderBytes: number;
  /** Remove the source after copying (drops in incoming/); imports of a user's path leave it alone. */
  move: boolean;
  /**
   * The quarantine wrote `src` itself (a browser upload, an airlock download) in its own 0700 folder: no one
   * else can hold it open, so it is renamed into work/<id>/ instead of copied (a 70 GB model is not written twice).
   * Drops in incoming/ are always copied: whoever dropped one may still hold it open and change it mid-scan.
   */
  owned?: boolean;
}

/**
 * Copies one regular file from a descriptor opened with O_NOFOLLOW and checked with fstat, so the bytes
 * copied are the file that was checked: swapping it for a link (or a FIFO) after the lstat is refused.
 * (Links in the folders above it are resolved by the kernel; the policy checked the real path.)
 */
export function copyRegularFile(src: string, dest: string): void {
  let fd: number;
  try {
    fd = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, code === 'ELOOP' ? `${basename(src)} is a symbolic link: links are never followed` : `${basename(src)} cannot be opened: ${code ?? (err as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(src)} is not a regular file`);
    const out = openSync(dest, 'wx', 0o600);
    try {
      const buf = Buffer.allocUnsafe(4 << 20);
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
        for (let w = 0; w < n;) w += writeSync(out, buf, w, n - w);
      }
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(fd);
  }
}

function renameOrCopy(src: string, dest: string): void {
  try {
    renameSync(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(src, dest);
  }
}

/** Copies `src` (and its signature sidecars) into work/<id>/. Throws IMPORT_REFUSED and leaves nothing behind. */
export function ingest(src: string, origin: ArtifactOrigin, o: IngestOptions, id = newJobId()): { id: string; artifact: Artifact } {
  const m = measure(src);
  const limit = m.kind === 'file' ? o.maxFileBytes : o.maxFolderBytes;
  if (m.size > limit) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(src)} is ${m.size} bytes, over the ${limit}-byte limit (quarantine.max_${m.kind}_bytes)`);
  const dir = join(o.workDir, id);
  const name = basename(src);
  const dest = join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if (m.kind === 'file' && o.owned) renameOrCopy(src, dest);
    else if (m.kind === 'file') copyRegularFile(src, dest);
    // Links inside a folder are copied as links (never followed), so stage 7 sees and rejects them.
    else cpSync(src, dest, { recursive: true, verbatimSymlinks: true, errorOnExist: true, dereference: false });
    for (const suffix of SIDECAR_SUFFIXES) {
      const side = src + suffix;
      if (existsSync(side) && lstatSync(side).isFile()) copyRegularFile(side, dest + suffix);
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${name} could not be copied into quarantine: ${(err as Error).message}`, { cause: err });
  }
  const copied = measure(dest);
  if (o.move) {
    rmSync(src, { recursive: true, force: true });
    for (const suffix of SIDECAR_SUFFIXES) rmSync(src + suffix, { force: true });
  }
  return { id, artifact: { path: dest, kind: m.kind, name, origin, size: copied.size } };
}
