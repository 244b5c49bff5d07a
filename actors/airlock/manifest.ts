// The airlock's bus contract: the only egress path of the appliance (off unless policy enables it).
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { downloadChunk, downloadId, downloadReply, downloadRequest } from '../../contracts/airlock-download.js';

export { DOWNLOAD_CHUNK_BYTES, MAX_DOWNLOAD_MS } from '../../contracts/airlock-download.js';

const MAX_BODY = 64 * 1024 * 1024;
export const fetchRequest = s.object(
  {
    method: s.string({ enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] }),
    url: s.string({ maxLength: 8192, minLength: 1 }),
    headers: s.map(s.string({ maxLength: 8192 }), 64),
    body: s.bytes(MAX_BODY),
  },
  ['headers', 'body'],
);
const fetchReply = s.object({
  status: s.integer({ minimum: 100, maximum: 999 }),
  headers: s.map(s.string({ maxLength: 65536 })),
  body: s.bytes(1024 * 1024 * 1024),
  address: s.string({ maxLength: 64 }),
  decision: s.record(),
});
const containment = s.object({ incidentId: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 512 }), at: s.number() });
const statusReply = s.object({
  // `enabled`: whether a request could go out now (false while contained, whatever the policy says).
  enabled: s.boolean(), policyEnabled: s.boolean(), loopbackForTests: s.boolean(), destinations: s.array(s.string({ maxLength: 300 }), 256),
  requests: s.integer({ minimum: 0 }), denied: s.integer({ minimum: 0 }), policyDigest: s.string({ maxLength: 64 }),
  /** Set while an incident holds the airlock disabled. */
  disabledBy: containment,
}, ['policyEnabled', 'disabledBy']);
/** The containment request: which incident asks, and why (both go into the audit chain and `airlock status`). */
export const containRequest = s.object({ incidentId: s.string({ minLength: 1, maxLength: 128 }), reason: s.string({ minLength: 1, maxLength: 512 }) });
/** Who may ask for containment: the incident actor alone (the ACL compiler refuses any other manifest that asks). */
export const CONTAINMENT_CALLERS = ['incident'] as const;
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
    contain: {
      request: containRequest, reply: s.object({ disabled: s.boolean(), already: s.boolean() }), callers: CONTAINMENT_CALLERS, maxBytes: 4096,
      description: 'Incident containment: disable every fetch and download (persisted across restarts) until an operator runs securectl airlock enable.',
    },
  },
  commands: {
    status: { request: s.empty(), reply: statusReply, description: 'Airlock status as a signed request (securectl airlock status).', roles: ['admin', 'auditor'] },
    enable: {
      request: s.empty(), reply: s.object({ enabled: s.boolean(), wasDisabledBy: containment }, ['wasDisabledBy']), roles: ['admin'],
      description: 'End an incident containment (securectl airlock enable): the airlock follows the policy again.',
    },
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
    /** An incident disabled the airlock, or an operator ended that (the state is on secai.state.airlock too). */
    contained: containment,
    enabled_by_operator: s.object({ incidentId: s.string({ maxLength: 128 }), keyId: s.string({ maxLength: 128 }) }),
  },
  requests: ['policy.decide', 'policy.section'],
  // Its policy.yaml section(s), at start and after each reload that changes them (runtime/config-section.ts).
  subscribes: ['policy.reloaded'],
});
