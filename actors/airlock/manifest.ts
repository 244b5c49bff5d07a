// The airlock's bus contract: the only egress path of the appliance (off unless policy enables it).
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const MAX_BODY = 64 * 1024 * 1024;
/** Bytes per download chunk message: well under the bus's 1 MiB max_payload with the envelope around it. */
export const DOWNLOAD_CHUNK_BYTES = 512 * 1024;
/** The longest total time limit a download may ask for. */
export const MAX_DOWNLOAD_MS = 24 * 3600_000;
export const fetchRequest = s.object(
  {
    method: s.string({ enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] }),
    url: s.string({ maxLength: 8192, minLength: 1 }),
    headers: { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 8192 } },
    body: s.bytes(MAX_BODY),
  },
  ['headers', 'body'],
);
const fetchReply = s.object({
  status: s.integer({ minimum: 100, maximum: 999 }),
  headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 65536 } },
  body: s.bytes(1024 * 1024 * 1024),
  address: s.string({ maxLength: 64 }),
  decision: s.record(),
});
const statusReply = s.object({
  enabled: s.boolean(), loopbackForTests: s.boolean(), destinations: s.array(s.string({ maxLength: 300 }), 256),
  requests: s.integer({ minimum: 0 }), denied: s.integer({ minimum: 0 }), policyDigest: s.string({ maxLength: 64 }),
});
const headersMap = { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 8192 } };
const downloadId = s.string({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const downloadRequest = s.object(
  {
    url: s.string({ maxLength: 8192, minLength: 1 }),
    headers: headersMap,
    maxBytes: s.integer({ minimum: 1, maximum: 2 ** 50 }),
    maxMs: s.integer({ minimum: 100, maximum: MAX_DOWNLOAD_MS }),
  },
  ['headers'],
);
const downloadReply = s.object({
  status: s.integer({ minimum: 100, maximum: 999 }),
  headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 65536 } },
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
const finding = s.object({ kind: s.string({ maxLength: 32 }), where: s.string({ maxLength: 80 }), n: s.integer({ minimum: 1 }) });

export const airlockManifest = defineManifest({
  name: 'airlock',
  kind: 'actor',
  description: 'Egress: destination allowlist, PII/credential scan, DNS resolved once and pinned, no private addresses, size and time limits; streamed model downloads.',
  entry: 'actors/airlock/main.js',
  serves: {
    fetch: { request: fetchRequest, reply: fetchReply, description: 'Perform one HTTP request if policy allows it (redirects are returned, not followed).', maxBytes: MAX_BODY + 64 * 1024, timeoutMs: 120_000 },
    download: {
      request: downloadRequest, reply: downloadReply, timeoutMs: 120_000, concurrent: true,
      description: 'Start a streamed GET (same checks as fetch; redirects are returned, not followed): replies with the status and, for 200, a download id to pull.',
    },
    download_next: {
      request: s.object({ id: downloadId }), reply: downloadChunk, timeoutMs: 120_000, maxBytes: 4096, concurrent: true,
      description: 'The next chunk (at most 512 KiB) of a download; the last one has done, bytes and sha256. Pulling is the flow control.',
    },
    download_cancel: { request: s.object({ id: downloadId }), reply: s.object({ cancelled: s.boolean() }), maxBytes: 4096, description: 'Abort a download and its HTTP request.' },
    status: { request: s.empty(), reply: statusReply, description: 'Whether the airlock is enabled, its destinations and counters.' },
  },
  commands: {
    status: { request: s.empty(), reply: statusReply, description: 'Airlock status as a signed request (securectl airlock status).', roles: ['admin', 'auditor'] },
  },
  publishes: {
    egress: s.object(
      {
        decision: s.string({ enum: ['allow', 'deny', 'ask'] }), rule: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }),
        method: s.string({ maxLength: 16 }), origin: s.string({ maxLength: 300 }), findings: s.array(finding, 64),
        address: s.string({ maxLength: 64 }), status: s.integer(), bytes: s.integer({ minimum: 0 }),
        op: s.string({ enum: ['download'] }), outcome: s.string({ enum: ['complete', 'failed', 'cancelled'] }), sha256: s.string({ maxLength: 64 }),
        policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }),
      },
      ['reason', 'address', 'status', 'bytes', 'op', 'outcome', 'sha256'],
    ),
  },
  requests: ['policy.decide', 'policy.show'],
  subscribes: [],
});
