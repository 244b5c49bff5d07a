// The airlock's bus contract: the only egress path of the appliance (off unless policy enables it).
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const MAX_BODY = 64 * 1024 * 1024;
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
const finding = s.object({ kind: s.string({ maxLength: 32 }), where: s.string({ maxLength: 80 }), n: s.integer({ minimum: 1 }) });

export const airlockManifest = defineManifest({
  name: 'airlock',
  kind: 'actor',
  description: 'Egress: destination allowlist, PII/credential scan, DNS resolved once and pinned, no private addresses, size and time limits.',
  entry: 'actors/airlock/main.js',
  serves: {
    fetch: { request: fetchRequest, reply: fetchReply, description: 'Perform one HTTP request if policy allows it (redirects are returned, not followed).', maxBytes: MAX_BODY + 64 * 1024, timeoutMs: 120_000 },
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
        policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }),
      },
      ['reason', 'address', 'status', 'bytes'],
    ),
  },
  requests: ['policy.decide', 'policy.show'],
  subscribes: [],
});
