// URL imports: pulled through the airlock chunk by chunk into a private file, checked against the airlock's
// byte count and SHA-256; anything short of a whole, verified file leaves nothing behind.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BusClient } from '../../bus/client.js';
import { compile } from '../../bus/schema.js';
import { airlockManifest } from '../airlock/manifest.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { newJobId } from './ingest.js';
import { checkSource, type SourcesAllowlist } from './stages/source.js';

export interface DownloadOptions {
  bus: Pick<BusClient, 'request'>;
  url: string;
  allowlist: SourcesAllowlist;
  /** Downloads land in a fresh 0700 folder `dl-<id>` under here. */
  workDir: string;
  /** Largest file accepted (policy quarantine.max_file_bytes); the airlock may apply a smaller one. */
  maxBytes: number;
  /** Total time limit per hop. */
  maxMs: number;
  /** How long to wait for one airlock answer (it answers a stall itself within its own idle limit). */
  requestMs?: number;
}

interface Start { status: number; headers: Record<string, string>; id?: string; length?: number; limit: number }
interface Chunk { seq: number; data: Uint8Array; done: boolean; bytes: number; sha256?: string }

/** The airlock's replies are checked against its own manifest's schemas: this side trusts their shape to nothing else. */
function airlockReply<T>(op: 'download' | 'download_next', value: unknown): T {
  if (!compile(airlockManifest.serves[op].reply)(value)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `malformed ${op === 'download' ? 'download start' : 'download chunk'} from the airlock: nothing imported`);
  return value as T;
}

const MAX_REDIRECTS = 3;
const DEFAULT_MAX_MS = 6 * 3600_000;

/** The total time limit of one download: SECAI_QUARANTINE_DOWNLOAD_MAX_MS (ms), default 6 h; anything else is refused. */
export function downloadMaxMs(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_MAX_MS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 100 || n > 24 * 3600_000) throw new SecaiError(ErrorCode.CONFIG_INVALID, `SECAI_QUARANTINE_DOWNLOAD_MAX_MS must be 100..86400000 ms, not '${raw.slice(0, 32)}'`);
  return n;
}

function unavailable(err: unknown): never {
  const e = err as SecaiError;
  if (e.code === ErrorCode.NO_RESPONDER || e.code === ErrorCode.PERMISSION) {
    throw new SecaiError(ErrorCode.AIRLOCK_UNAVAILABLE, `URL imports need the airlock actor, which is not available: nothing was downloaded (${e.message})`);
  }
  throw err;
}

/** The name a downloaded file gets: the last path segment of its final URL, made safe. */
export function fileName(url: string): string {
  let last = '';
  try { last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? ''); } catch { /* a name is only a label */ }
  return (last || 'download').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^\.+/, '') || 'download';
}

/** A download the airlock has started: its 200 answer arrived, its bytes have yet to be pulled. */
export interface OpenDownload {
  /** The airlock's download id. */
  id: string;
  /** The final URL (after redirects, each re-checked). */
  url: string;
  /** The size limit in force (the smaller of ours and the airlock's). */
  limit: number;
  /** Content-Length, when the server declared one. */
  length?: number;
}

/**
 * Asks the airlock to start `url` (redirects re-checked against the allowlist, at most 3). Returns once a
 * server answered 200: every refusal before the first byte (source policy, airlock policy, HTTP status,
 * declared size) is thrown here, so the caller can say so at once.
 */
export async function openDownload(o: DownloadOptions): Promise<OpenDownload> {
  const requestMs = o.requestMs ?? 120_000;
  let current = o.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // Every hop is judged; `redirect_only` sources (CDNs) only as where an allowed URL led.
    const d = checkSource(current, o.allowlist, hop === 0 ? 'origin' : 'redirect');
    if (!d.allowed) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `source policy refuses ${current.slice(0, 200)}: ${d.reason}`);
    const start = airlockReply<Start>('download', await o.bus.request('airlock', 'download', { url: d.url, maxBytes: o.maxBytes, maxMs: o.maxMs }, requestMs).catch(unavailable));
    if (start.status >= 300 && start.status < 400 && start.headers.location) {
      current = new URL(start.headers.location, d.url).href;
      continue;
    }
    if (start.status !== 200 || !start.id) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${d.host} answered HTTP ${start.status}: nothing imported`);
    return { id: start.id, url: d.url, limit: Math.min(o.maxBytes, start.limit), ...(start.length !== undefined && { length: start.length }) };
  }
  throw new SecaiError(ErrorCode.IMPORT_REFUSED, `more than ${MAX_REDIRECTS} redirects: nothing imported`);
}

/**
 * Pulls an open download into a fresh 0700 folder and returns the path of the verified file (byte count and
 * SHA-256 equal to the airlock's). On any error the airlock's download is cancelled and the partial file and
 * its folder are removed. `progress` hears the byte count after each chunk.
 */
export async function receiveDownload(o: Pick<DownloadOptions, 'bus' | 'workDir' | 'requestMs'>, open: OpenDownload, progress: (bytes: number) => void = () => {}): Promise<string> {
  const requestMs = o.requestMs ?? 120_000;
  const { id, limit } = open;
  const dir = join(o.workDir, `dl-${newJobId()}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, fileName(open.url));
  const hash = createHash('sha256');
  let fd: number | undefined;
  let bytes = 0;
  let finished = false;
  try {
    fd = openSync(path, 'wx', 0o600);
    for (let seq = 0; ; seq++) {
      const c = airlockReply<Chunk>('download_next', await o.bus.request('airlock', 'download_next', { id }, requestMs).catch(unavailable));
      if (c.seq !== seq) throw new SecaiError(ErrorCode.EGRESS_FAILED, `download chunk ${c.seq} arrived where ${seq} was expected: nothing imported`);
      if (c.done) {
        finished = true;
        const sha256 = hash.digest('hex');
        if (c.bytes !== bytes || c.sha256 !== sha256) {
          throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `the download does not match the airlock's account (${bytes} bytes, sha256 ${sha256}; the airlock sent ${c.bytes} bytes, sha256 ${c.sha256 ?? 'none'}): nothing imported`);
        }
        fsyncSync(fd);
        closeSync(fd);
        fd = undefined;
        return path;
      }
      bytes += c.data.byteLength;
      // The airlock enforces the limit too; this side does not depend on it.
      if (bytes > limit) throw new SecaiError(ErrorCode.EGRESS_FAILED, `download exceeds ${limit} bytes (size limit): nothing imported`);
      hash.update(c.data);
      for (let off = 0; off < c.data.byteLength;) off += writeSync(fd, c.data, off);
      if (c.data.byteLength) progress(bytes);
    }
  } catch (err) {
    if (!finished) await o.bus.request('airlock', 'download_cancel', { id }, 5000).catch(() => {});
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Removes the `dl-*` folders a previous run left mid-download (its jobs are rejected as interrupted at start). */
export function removePartialDownloads(workDir: string): string[] {
  if (!existsSync(workDir)) return [];
  const left = readdirSync(workDir).filter((n) => n.startsWith('dl-'));
  for (const n of left) rmSync(join(workDir, n), { recursive: true, force: true });
  return left;
}
