// URL imports: pulled through the airlock chunk by chunk into a private file, checked against the airlock's
// byte count and SHA-256; anything short of a whole, verified file leaves nothing behind.
import { parseEnv } from '../../common/env.js';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ReplySchemaError, type BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { airlockManifest } from '../../runtime/catalog.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { newJobId } from './ingest.js';
import { checkSource, type SourcesAllowlist } from './stages/source.js';

export interface DownloadOptions {
  bus: Pick<BusClient, 'call'>;
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

const downloadOp = serveOp(airlockManifest, 'download');
const nextOp = serveOp(airlockManifest, 'download_next');
const cancelOp = serveOp(airlockManifest, 'download_cancel');

/**
 * The airlock's replies are checked against its own manifest's schemas where they enter (BusClient.call):
 * this side trusts their shape to nothing else. A malformed one is said as such, and nothing is imported.
 */
function airlockFailure(what: 'download start' | 'download chunk'): (err: unknown) => never {
  return (err) => {
    if (err instanceof ReplySchemaError) throw new SecaiError(ErrorCode.BAD_MESSAGE, `malformed ${what} from the airlock: nothing imported`, { cause: err });
    return unavailable(err);
  };
}

const MAX_REDIRECTS = 3;

/** The total time limit of one download: SECAI_QUARANTINE_DOWNLOAD_MAX_MS (ms), default 6 h; anything else is refused. */
export function downloadMaxMs(raw: string | undefined): number {
  return parseEnv({ SECAI_QUARANTINE_DOWNLOAD_MAX_MS: raw }).quarantineDownloadMaxMs;
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
  try { last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? ''); } catch { /* lint-ok: a name is only a label */ }
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
    const start = await o.bus.call(downloadOp, { url: d.url, maxBytes: o.maxBytes, maxMs: o.maxMs }, requestMs).catch(airlockFailure('download start'));
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
      const c = await o.bus.call(nextOp, { id }, requestMs).catch(airlockFailure('download chunk'));
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
    // lint-ok: the airlock aborts a download its caller stops pulling (its idle limit), and the error below is what counts
    if (!finished) await o.bus.call(cancelOp, { id }, 5000).catch(() => {});
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
