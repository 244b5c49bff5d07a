// The web UI's model imports: a browser upload streamed to the quarantine in bus-sized chunks, a policy-checked path, a URL, the catalog.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { UPLOAD_CHUNK_BYTES } from '../../quarantine/manifest.js';
import { readJson, sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';


/** A stalled browser gives up its upload slot after this long without a byte. */
const UPLOAD_IDLE_MS = 60_000;

/**
 * The file name the browser gave, made safe: control characters (NUL included) are refused, only the
 * last path segment is kept (`../x` → `x`), other characters become `-`; a dot file or an empty
 * name is refused (the quarantine ignores dot files, and the name must not hide).
 */
export function uploadName(raw: string | null): string {
  if (!raw || raw.length > 255 || /[\u0000-\u001f\u007f]/.test(raw)) {
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'the upload needs ?name= with a file name of at most 255 characters and no control characters');
  }
  const last = raw.split(/[\\/]/).pop() ?? '';
  const clean = last.replace(/[^A-Za-z0-9._-]/g, '-');
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(clean)) {
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `'${clean.slice(0, 64)}' is not an upload name: one file name of up to 128 characters, not starting with a dot`);
  }
  return clean;
}

function declaredLength(header: string | undefined, chunked: boolean): number {
  if (chunked || header === undefined || !/^\d{1,16}$/.test(header)) {
    throw new SecaiError(ErrorCode.USAGE, 'an upload needs a Content-Length header (no chunked transfer): the quarantine checks the size before the first byte');
  }
  const n = Number(header);
  if (!Number.isSafeInteger(n) || n < 1) throw new SecaiError(ErrorCode.USAGE, 'an upload has at least one byte');
  return n;
}

export function modelImportRoutes(d: GatewayDeps): Route[] {
  return [
    {
      // The body is the file itself (application/octet-stream); never held whole: 512 KiB at a time, each acknowledged before the next is read.
      method: 'POST', path: '/api/models/upload', access: 'session', longBody: true,
      handler: async ({ req, res, url }) => {
        const name = uploadName(url.searchParams.get('name'));
        const size = declaredLength(req.headers['content-length'], req.headers['transfer-encoding'] !== undefined);
        const { uploadId } = await d.bus.request<{ uploadId: string }>('quarantine', 'upload_begin', { name, size });
        req.setTimeout(UPLOAD_IDLE_MS, () => req.destroy(new SecaiError(ErrorCode.TIMEOUT, 'the upload stalled')));
        let offset = 0;
        const buf = Buffer.allocUnsafe(UPLOAD_CHUNK_BYTES);
        let fill = 0;
        const flush = async () => {
          if (!fill) return;
          await d.bus.request('quarantine', 'upload_chunk', { uploadId, offset, data: buf.subarray(0, fill) }, 60_000);
          offset += fill;
          fill = 0;
        };
        try {
          for await (const piece of req as AsyncIterable<Buffer>) {
            let at = 0;
            while (at < piece.length) {
              const n = Math.min(piece.length - at, UPLOAD_CHUNK_BYTES - fill);
              piece.copy(buf, fill, at, at + n);
              fill += n;
              at += n;
              if (fill === UPLOAD_CHUNK_BYTES) await flush();
            }
          }
          await flush();
          if (offset !== size) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `the body ended after ${offset} of ${size} bytes: nothing imported`);
          sendJson(res, 200, await d.bus.request('quarantine', 'upload_end', { uploadId }, 600_000));
        } catch (err) {
          // Whatever went wrong (client gone, refused chunk, bus error), the partial file is discarded.
          await d.bus.request('quarantine', 'upload_abort', { uploadId }).catch(() => {});
          throw err instanceof SecaiError ? err : new SecaiError(ErrorCode.IMPORT_REFUSED, `the upload did not complete: ${(err as Error).message}`);
        }
      },
    },
    {
      // { path } (policy path_access must allow reading it) or { url } (stage-1 rules, then the airlock).
      method: 'POST', path: '/api/models/import', access: 'session',
      handler: async ({ req, res }) => {
        const b = await readJson<{ path?: unknown; url?: unknown }>(req, 16 * 1024);
        const keys = Object.keys(b);
        if (keys.length !== 1 || (typeof b.path !== 'string' && typeof b.url !== 'string')) {
          throw new SecaiError(ErrorCode.USAGE, 'an import takes exactly one of { path } or { url }');
        }
        const r = typeof b.path === 'string'
          ? await d.bus.request('quarantine', 'import_path', { path: b.path }, 600_000)
          : await d.bus.request('quarantine', 'import_url', { url: b.url as string }, 600_000);
        sendJson(res, 200, r);
      },
    },
    { method: 'GET', path: '/api/models/catalog', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.request('quarantine', 'sources')) },
  ];
}
