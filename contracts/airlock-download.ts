// The airlock's streamed-download contract, shared by the airlock (which serves it) and the quarantine (which
// checks every reply against it): a shared place, so neither actor imports the other's internals.
import { s } from '../bus/schema.js';

/** Bytes per download chunk message: well under the bus's 1 MiB max_payload with the envelope around it. */
export const DOWNLOAD_CHUNK_BYTES = 512 * 1024;
/** The longest total time limit a download may ask for. */
export const MAX_DOWNLOAD_MS = 24 * 3600_000;

const headersMap = s.map(s.string({ maxLength: 8192 }), 64);
export const downloadId = s.string({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const downloadRequest = s.object(
  {
    url: s.string({ maxLength: 8192, minLength: 1 }),
    headers: headersMap,
    maxBytes: s.integer({ minimum: 1, maximum: 2 ** 50 }),
    maxMs: s.integer({ minimum: 100, maximum: MAX_DOWNLOAD_MS }),
  },
  ['headers'],
);
export const downloadReply = s.object({
  status: s.integer({ minimum: 100, maximum: 999 }),
  headers: s.map(s.string({ maxLength: 65536 })),
  address: s.string({ maxLength: 64 }),
  decision: s.record(),
  id: downloadId,
  length: s.integer({ minimum: 0 }),
  limit: s.integer({ minimum: 1 }),
}, ['id', 'length']);
export const downloadChunk = s.object({
  seq: s.integer({ minimum: 0 }),
  data: s.bytes(DOWNLOAD_CHUNK_BYTES),
  done: s.boolean(),
  bytes: s.integer({ minimum: 0 }),
  sha256: s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' }),
}, ['sha256']);
