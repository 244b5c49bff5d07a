// The web UI's model imports: a browser upload streamed to the quarantine in bus-sized chunks, a policy-checked path, a URL,
// an entry of the signed model catalog, and the catalog (allowlisted sources and the signed model list).
import { serveOp } from '../../../bus/op-ref.js';
import { quarantineManifest } from '../../../runtime/catalog.js';
import { assertStorageRoom } from '../../../common/storage.js';
import { ErrorCode, SecaiError, toErrorData } from '../../../common/errors.js';
import { UPLOAD_CHUNK_BYTES } from '../../../contracts/quarantine-upload.js';
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
        // Refused before a byte is read: a full disk must not take a model (docs/recovery.md, degraded_storage).
        assertStorageRoom(d.paths.home, 'an upload');
        const name = uploadName(url.searchParams.get('name'));
        const size = declaredLength(req.headers['content-length'], req.headers['transfer-encoding'] !== undefined);
        const { uploadId } = await d.bus.call(serveOp(quarantineManifest, 'upload_begin'), { name, size });
        req.setTimeout(UPLOAD_IDLE_MS, () => req.destroy(new SecaiError(ErrorCode.TIMEOUT, 'the upload stalled')));
        let offset = 0;
        const buf = Buffer.allocUnsafe(UPLOAD_CHUNK_BYTES);
        let fill = 0;
        const flush = async () => {
          if (!fill) return;
          await d.bus.call(serveOp(quarantineManifest, 'upload_chunk'), { uploadId, offset, data: buf.subarray(0, fill) }, 60_000);
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
          sendJson(res, 200, await d.bus.call(serveOp(quarantineManifest, 'upload_end'), { uploadId }, 600_000));
        } catch (err) {
          // Whatever went wrong (client gone, refused chunk, bus error), the partial file is discarded.
          await d.bus.call(serveOp(quarantineManifest, 'upload_abort'), { uploadId }).catch((e: unknown) => d.log.warn({ uploadId, err: (e as Error).message }, 'upload_abort not delivered'));
          throw err instanceof SecaiError ? err : new SecaiError(ErrorCode.IMPORT_REFUSED, `the upload did not complete: ${(err as Error).message}`);
        }
      },
    },
    {
      // { path } (policy path_access must allow reading it), { url } (stage-1 rules, then the airlock), or
      // { catalog: id } (an entry of the signed catalog: its URL, held to its SHA-256 pin at stage 3).
      method: 'POST', path: '/api/models/import', access: 'session',
      handler: async ({ req, res }) => {
        assertStorageRoom(d.paths.home, 'an import');
        const b = await readJson<{ path?: unknown; url?: unknown; catalog?: unknown }>(req, 16 * 1024);
        const keys = Object.keys(b);
        if (keys.length !== 1 || (typeof b.path !== 'string' && typeof b.url !== 'string' && typeof b.catalog !== 'string')) {
          throw new SecaiError(ErrorCode.USAGE, 'an import takes exactly one of { path }, { url } or { catalog }');
        }
        const r = typeof b.path === 'string' ? await d.bus.call(serveOp(quarantineManifest, 'import_path'), { path: b.path }, 600_000)
          : typeof b.url === 'string' ? await d.bus.call(serveOp(quarantineManifest, 'import_url'), { url: b.url }, 600_000)
            : await d.bus.call(serveOp(quarantineManifest, 'import_catalog'), { id: b.catalog as string }, 600_000);
        sendJson(res, 200, r);
      },
    },
    {
      // The sources and the signed model list in one answer; a catalog refused (bad signature, schema) does not hide the sources.
      method: 'GET', path: '/api/models/catalog', access: 'session',
      handler: async ({ res }) => {
        const [sources, catalog] = await Promise.all([
          d.bus.call(serveOp(quarantineManifest, 'sources'), {}),
          d.bus.call(serveOp(quarantineManifest, 'catalog'), {}).then((c) => ({ catalog: c }), (err: unknown) => ({ catalogError: toErrorData(err) })),
        ]);
        sendJson(res, 200, { ...sources, ...catalog });
      },
    },
  ];
}
