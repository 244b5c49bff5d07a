// Browser uploads: a model file arrives over the bus in ordered chunks, into a private folder, then joins the queue like an import.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { UPLOAD_CHUNK_BYTES, UPLOAD_ID_PATTERN, UPLOAD_NAME_PATTERN } from '../../contracts/quarantine-upload.js';

export { UPLOAD_CHUNK_BYTES };

const NAME = new RegExp(UPLOAD_NAME_PATTERN);
const ID = new RegExp(UPLOAD_ID_PATTERN);
export const DEFAULT_MAX_UPLOADS = 4;
export const DEFAULT_UPLOAD_IDLE_MS = 60_000;
/** Room left on the disk after every upload in progress would complete. */
const DISK_RESERVE_BYTES = 256 * 1024 * 1024;

interface Upload {
  id: string;
  owner: string;
  name: string;
  size: number;
  received: number;
  dir: string;
  path: string;
  fd: number;
  lastActive: number;
}

export interface UploadsOptions {
  /** A private folder (0700) for partial uploads, emptied at start. */
  dir: string;
  /** Policy `quarantine.max_file_bytes`, read on every begin (a reload applies to the next upload). */
  maxBytes: () => number;
  maxConcurrent?: number;
  idleMs?: number;
  /** The clock (tests pass their own: the idle timeout is tested without waiting). */
  now?: () => number;
  /** Free bytes on the folder's disk (statfs by default). */
  freeBytes?: (dir: string) => number;
  /** Queues the complete file like an import (the quarantine copies it into work/<id>/ and removes it). */
  enqueue: (path: string) => Promise<{ id: string; name: string }>;
}

const freeBytesOf = (dir: string): number => {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
};

/**
 * Uploads in progress, each bound to the identity that began it. Every refusal discards the
 * upload (fail closed: a client that sent a wrong chunk starts again), and nothing reaches the
 * queue until the declared size has arrived in order.
 */
export class Uploads {
  private readonly uploads = new Map<string, Upload>();
  private readonly now: () => number;
  private readonly maxConcurrent: number;
  private readonly idleMs: number;

  constructor(private readonly o: UploadsOptions) {
    this.now = o.now ?? Date.now;
    this.maxConcurrent = o.maxConcurrent ?? DEFAULT_MAX_UPLOADS;
    this.idleMs = o.idleMs ?? DEFAULT_UPLOAD_IDLE_MS;
    // Partial uploads from before a restart are discarded: their sender is gone.
    rmSync(o.dir, { recursive: true, force: true });
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  get active(): number {
    return this.uploads.size;
  }

  begin(owner: string, req: { name: string; size: number }): { uploadId: string } {
    this.sweep();
    if (!NAME.test(req.name)) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'an upload name is one file name of letters, digits, . _ - (not starting with a dot)');
    if (!Number.isSafeInteger(req.size) || req.size < 1) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'an upload declares its size in bytes (at least 1)');
    const max = this.o.maxBytes();
    if (req.size > max) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${req.name} is ${req.size} bytes, over the ${max}-byte limit (quarantine.max_file_bytes)`);
    if (this.uploads.size >= this.maxConcurrent) throw new SecaiError(ErrorCode.NOT_READY, `${this.maxConcurrent} uploads are already in progress: try again when one ends`);
    const pending = [...this.uploads.values()].reduce((n, u) => n + u.size - u.received, 0);
    const free = (this.o.freeBytes ?? freeBytesOf)(this.o.dir);
    if (req.size + pending + DISK_RESERVE_BYTES > free) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `not enough disk space for ${req.size} bytes (${free} free)`);
    const id = randomBytes(16).toString('hex');
    const dir = join(this.o.dir, id);
    mkdirSync(dir, { mode: 0o700 });
    const path = join(dir, req.name);
    const fd = openSync(path, 'wx', 0o600);
    this.uploads.set(id, { id, owner, name: req.name, size: req.size, received: 0, dir, path, fd, lastActive: this.now() });
    return { uploadId: id };
  }

  chunk(owner: string, req: { uploadId: string; offset: number; data: Uint8Array }): { received: number } {
    const u = this.find(owner, req.uploadId);
    if (req.offset !== u.received) this.refuse(u, `chunk at offset ${req.offset}, expected ${u.received}: chunks arrive in order, once`);
    if (!req.data.byteLength || req.data.byteLength > UPLOAD_CHUNK_BYTES) this.refuse(u, `a chunk holds 1 to ${UPLOAD_CHUNK_BYTES} bytes`);
    if (u.received + req.data.byteLength > u.size) this.refuse(u, `more bytes than the declared ${u.size}`);
    try {
      let done = 0;
      while (done < req.data.byteLength) done += writeSync(u.fd, req.data, done, req.data.byteLength - done);
    } catch (err) {
      this.discard(u);
      throw new SecaiError(ErrorCode.IMPORT_REFUSED, `the upload could not be written: ${(err as Error).message}`, { cause: err });
    }
    u.received += req.data.byteLength;
    u.lastActive = this.now();
    return { received: u.received };
  }

  async end(owner: string, req: { uploadId: string }): Promise<{ id: string; name: string }> {
    const u = this.find(owner, req.uploadId);
    if (u.received !== u.size) this.refuse(u, `${u.received} of the declared ${u.size} bytes arrived: nothing imported`);
    this.uploads.delete(u.id);
    try {
      try { fsyncSync(u.fd); } finally { closeSync(u.fd); }
      return await this.o.enqueue(u.path);
    } finally {
      rmSync(u.dir, { recursive: true, force: true });
    }
  }

  abort(owner: string, req: { uploadId: string }): { aborted: boolean } {
    const u = this.uploads.get(req.uploadId);
    if (!u || u.owner !== owner) return { aborted: false };
    this.discard(u);
    return { aborted: true };
  }

  /** Discards uploads idle for longer than the timeout; returns their ids. */
  sweep(): string[] {
    const limit = this.now() - this.idleMs;
    const gone = [...this.uploads.values()].filter((u) => u.lastActive < limit);
    for (const u of gone) this.discard(u);
    return gone.map((u) => u.id);
  }

  /** Discards everything (actor stop). */
  close(): void {
    for (const u of [...this.uploads.values()]) this.discard(u);
  }

  private find(owner: string, uploadId: string): Upload {
    const u = ID.test(uploadId) ? this.uploads.get(uploadId) : undefined;
    // Another identity's upload reads as unknown: its existence is not revealed.
    if (!u || u.owner !== owner) throw new SecaiError(ErrorCode.UPLOAD_NOT_FOUND, 'no upload in progress with that id');
    return u;
  }

  private refuse(u: Upload, why: string): never {
    this.discard(u);
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `upload of ${u.name} refused and discarded: ${why}`);
  }

  private discard(u: Upload): void {
    this.uploads.delete(u.id);
    try { closeSync(u.fd); } catch { /* lint-ok: already closed */ }
    rmSync(u.dir, { recursive: true, force: true });
  }
}
