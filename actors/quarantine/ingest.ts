// Takes an incoming file or folder into quarantine/work/<id>/: a private copy, so the user cannot swap it mid-scan.
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, fstatSync, lstatSync, mkdirSync, openSync, read, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { fdPath, hardLinkReason, NoFollowError, openAt, openDirNoFollow } from '../../common/no-follow.js';
import { MAX_SIDECAR, SIDECAR_SUFFIXES } from './stages/provenance.js';
import type { Artifact, ArtifactOrigin } from './stages/types.js';

const MAX_DEPTH = 8;
const MAX_ENTRIES = 10_000;

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
    if (depth > MAX_DEPTH) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} is nested deeper than ${MAX_DEPTH} levels`);
    for (const e of readdirSync(dir)) {
      const s = lstatSync(join(dir, e));
      count++;
      if (count > MAX_ENTRIES) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(path)} holds more than ${MAX_ENTRIES} entries`);
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

const COPY_BUFFER = 4 << 20;
const readAsync = promisify(read);
const writeAsync = promisify(write) as (fd: number, buf: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;

/** What a copy may still write: the byte limit holds while copying too, since a source can grow after measure(). */
interface Budget { bytes: number; entries: number; readonly limit: number; readonly what: string }

const budgetOf = (limit: number, what: string): Budget => ({ bytes: 0, entries: 0, limit, what });

/**
 * Copies the open regular file `fd` to a new file `dest` (0600, never an existing one). Reads and writes go
 * through the thread pool: a 70 GB copy must not stop the actor answering its other requests meanwhile.
 */
async function copyFd(fd: number, dest: string, budget: Budget, label: string): Promise<void> {
  // Checked on the descriptor being read: a hard link is a second name for a file that may live anywhere
  // (keys/ included), and the copy would turn it into an ordinary file that stage 7 could no longer tell.
  const linked = hardLinkReason(label, fstatSync(fd));
  if (linked) throw new SecaiError(ErrorCode.IMPORT_REFUSED, linked);
  const out = openSync(dest, 'wx', 0o600);
  try {
    const buf = Buffer.allocUnsafe(COPY_BUFFER);
    for (let n; (n = (await readAsync(fd, buf, 0, buf.length, null)).bytesRead) > 0;) {
      budget.bytes += n;
      if (budget.bytes > budget.limit) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `it grew past the ${budget.limit}-byte limit (${budget.what}) while being copied`);
      for (let w = 0; w < n;) w += (await writeAsync(out, buf, w, n - w)).bytesWritten;
    }
  } finally {
    closeSync(out);
  }
}

/**
 * Copies the open folder `dirFd` into the new folder `dest`, every name reached through the folder already
 * open (common/no-follow.ts): a sub-folder swapped for a link mid-copy is refused, not followed. Links
 * inside are copied as links, for stage 7 to judge; a file with hard links refuses the import (copyFd);
 * anything else that is not a file or folder is refused.
 */
async function copyTree(dirFd: number, dest: string, budget: Budget, depth: number, rel: string): Promise<void> {
  if (depth > MAX_DEPTH) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `it is nested deeper than ${MAX_DEPTH} levels`);
  for (const name of readdirSync(fdPath(dirFd))) {
    if (++budget.entries > MAX_ENTRIES) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `it holds more than ${MAX_ENTRIES} entries`);
    const at = join(dest, name);
    if (lstatSync(fdPath(dirFd, name)).isSymbolicLink()) {
      symlinkSync(readlinkSync(fdPath(dirFd, name)), at);
      continue;
    }
    const fd = openAt(dirFd, name, 'any');
    try {
      if (fstatSync(fd).isDirectory()) {
        mkdirSync(at, { mode: 0o700 });
        await copyTree(fd, at, budget, depth + 1, `${rel}/${name}`);
      } else {
        await copyFd(fd, at, budget, `${rel}/${name}`);
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Runs `fn` with the folder above `src` opened without following links (NoFollowError becomes IMPORT_REFUSED). */
async function withParent<T>(src: string, fn: (parentFd: number, name: string) => Promise<T>): Promise<T> {
  let parent: number;
  try {
    parent = openDirNoFollow(dirname(src));
  } catch (err) {
    if (!(err instanceof NoFollowError)) throw err;
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `a folder on the path of ${basename(src)} cannot be used: ${err.message}`);
  }
  try {
    return await fn(parent, basename(src));
  } catch (err) {
    if (err instanceof NoFollowError) throw new SecaiError(ErrorCode.IMPORT_REFUSED, err.message);
    throw err;
  } finally {
    closeSync(parent);
  }
}

/** `p` with the folders above it resolved (an operator's path may pass through /home → /var/home); `p` itself is not followed. */
export function resolveParent(p: string): string {
  if (!isAbsolute(p) || p.includes('\0')) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'the import path must be absolute');
  try {
    return join(realpathSync(dirname(p)), basename(p));
  } catch (err) {
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `the folder of ${basename(p)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Copies the file or folder at the absolute canonical path `src`, and its signature sidecars, to `dest`
 * (which must not exist) from descriptors reached without following a link anywhere on the path and
 * checked with fstat: the bytes copied are the ones at the path that was checked, a file or folder on it
 * swapped for a link (or a FIFO) afterwards is refused, and `limit` bytes hold while copying.
 */
export async function copyInto(src: string, kind: 'file' | 'folder', dest: string, limit: number): Promise<void> {
  const budget = budgetOf(limit, `quarantine.max_${kind}_bytes`);
  await withParent(src, async (parent, name) => {
    const fd = openAt(parent, name, kind === 'file' ? 'file' : 'dir');
    try {
      if (kind === 'file') {
        await copyFd(fd, dest, budget, name);
      } else {
        mkdirSync(dest, { mode: 0o700 });
        await copyTree(fd, dest, budget, 0, name);
      }
    } finally {
      closeSync(fd);
    }
    for (const suffix of SIDECAR_SUFFIXES) {
      let side: number;
      try {
        side = openAt(parent, name + suffix, 'file');
      } catch {
        continue; // absent, a link or not a regular file: no signature travels with it
      }
      try {
        await copyFd(side, dest + suffix, budgetOf(MAX_SIDECAR, 'signature sidecar size'), name + suffix);
      } finally {
        closeSync(side);
      }
    }
  });
}

function renameOrCopy(src: string, dest: string): void {
  try {
    renameSync(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(src, dest);
  }
}

/**
 * Copies `src` (and its signature sidecars) into work/<id>/. Throws IMPORT_REFUSED and leaves nothing behind.
 * `src` is an absolute canonical path and no link anywhere on it is followed, so the copy reads exactly the
 * path a policy decided on; a caller holding an operator's path resolves the folders above it first
 * (resolveParent). Owned files (the quarantine's own uploads and downloads) are renamed in.
 */
export async function ingest(src: string, origin: ArtifactOrigin, o: IngestOptions, id = newJobId()): Promise<{ id: string; artifact: Artifact }> {
  const m = measure(src);
  const limit = m.kind === 'file' ? o.maxFileBytes : o.maxFolderBytes;
  if (m.size > limit) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${basename(src)} is ${m.size} bytes, over the ${limit}-byte limit (quarantine.max_${m.kind}_bytes)`);
  const dir = join(o.workDir, id);
  const name = basename(src);
  const dest = join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if (m.kind === 'file' && o.owned) renameOrCopy(src, dest);
    else await copyInto(src, m.kind, dest, limit);
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
