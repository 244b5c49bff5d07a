// The audit actor's bus contract: it consumes the tap streams and answers verify/tail.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { AUDIT_STREAMS } from '../../bus/subjects.js';

const verdict = s.object(
  {
    ok: s.boolean(), records: s.integer({ minimum: 0 }), head: s.string({ maxLength: 64 }), at: s.number(),
    brokenAt: s.integer({ minimum: 0 }), line: s.integer({ minimum: 0 }), reason: s.string({ maxLength: 1024 }),
    // The evidence of a rollback or deletion: what the anchor or JetStream said the chain should hold, and what it held.
    expected: s.string({ maxLength: 256 }), found: s.string({ maxLength: 256 }),
    // What started this verification when the file watch saw the chain change under the writer.
    trigger: s.string({ maxLength: 256 }),
  },
  ['head', 'brokenAt', 'line', 'reason', 'expected', 'found', 'trigger'],
);
const tailRequest = s.object({ n: s.integer({ minimum: 1, maximum: 1000 }), subject: s.string({ maxLength: 256 }) }, ['n', 'subject']);
const hex = s.string({ maxLength: 128 });
/** One chain record as actors/audit/audit-chain.ts writes it (streamSeq and hmac are absent on some lines). */
const record = s.object({
  seq: s.integer({ minimum: 0 }), at: s.number(), stream: s.string(), streamSeq: s.integer({ minimum: 0 }), subject: s.string(),
  sha256: hex, payload: s.any(), prev: hex, hash: hex, hmac: hex,
}, ['streamSeq', 'hmac']);
const tailReply = s.object({ records: s.array(record, 1000) });
/** A time span of the chain, a page at a time: `after` is the previous page's `next` (-1 for the first). */
const rangeRequest = s.object({
  since: s.number(), until: s.number(), after: s.integer({ minimum: -1 }), limit: s.integer({ minimum: 1, maximum: 1000 }),
}, ['after', 'limit']);
const rangeReply = s.object({ records: s.array(record, 1000), next: s.nullable(s.integer({ minimum: 0 })) });
const statusReply = s.object({ records: s.integer({ minimum: 0 }), state: s.any(), lastVerdict: s.any() });

export const auditManifest = defineManifest({
  name: 'audit',
  kind: 'actor',
  description: 'Appends every tapped secai.cmd.> and secai.evt.> message to a SHA-256 hash chain and verifies it.',
  entry: 'actors/audit/main.js',
  serves: {
    status: { request: s.empty(), reply: statusReply, description: 'Chain length, state and the last verification verdict.' },
    tail: { request: tailRequest, reply: tailReply, description: 'The last n records (default 20), optionally filtered by subject prefix.' },
    records: {
      request: rangeRequest, reply: rangeReply, timeoutMs: 30_000,
      description: 'The records of a time span, from the whole chain on disk, a page (default 500) at a time; `next` asks for the following page.',
    },
    // Read-only: it re-checks the chain and changes nothing, so the gateway (no operator key) may ask.
    verify: { request: s.empty(), reply: verdict, description: 'Verify the whole chain now (read-only; for the web UI).' },
  },
  commands: {
    verify: { request: s.empty(), reply: verdict, description: 'Verify the whole chain now.', roles: ['auditor'] },
    tail: { request: tailRequest, reply: tailReply, description: 'The last n records, as a signed request.', roles: ['auditor'] },
  },
  publishes: {
    chain_verified: verdict,
    chain_broken: verdict,
  },
  requests: [],
  subscribes: [],
  jetstream: { consume: [AUDIT_STREAMS.events.name, AUDIT_STREAMS.commands.name] },
});
