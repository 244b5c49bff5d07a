// The integrity monitor's bus contract: detections for the incident actor, its state, and the operator's status/diff/rebaseline.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { detection } from '../../contracts/detection.js';

const digest = s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' });
const sha = s.nullable(s.string({ maxLength: 4200 }));
const finding = s.object({
  key: s.string({ maxLength: 4200 }), class: s.string({ maxLength: 64 }), level: s.string({ enum: ['degraded', 'recovery_required'] }), kind: s.string({ maxLength: 32 }),
  summary: s.string({ maxLength: 1024 }), path: s.string({ maxLength: 4096 }), at: s.integer({ minimum: 0 }), count: s.integer({ minimum: 0 }),
  model: s.string({ maxLength: 128 }), old: sha, new: sha,
}, ['model', 'old', 'new']);
export const integrityStatus = s.object({
  state: s.string({ maxLength: 32 }), generation: s.integer({ minimum: 0 }), files: s.integer({ minimum: 0 }),
  findings: s.array(finding, 4096),
  pending: s.array(s.object({ path: s.string({ maxLength: 4096 }), since: s.number(), deadline: s.number() }), 4096),
  lastScan: s.nullable(s.object({ at: s.number(), files: s.integer(), bytesHashed: s.number(), ms: s.number(), full: s.boolean(), changes: s.integer() })),
  lastError: s.nullable(s.string({ maxLength: 4096 })),
  canaries: s.array(s.object({ path: s.string({ maxLength: 4096 }), watching: s.boolean() }), 16),
});
const change = s.object({ path: s.string({ maxLength: 4096 }), change: s.string({ enum: ['changed', 'added', 'removed'] }), old: sha, new: sha });
/** At most this many changes are listed; the digest covers them all. */
export const MAX_LISTED_CHANGES = 1000;
export const diffReply = s.object({ changes: s.array(change, MAX_LISTED_CHANGES), total: s.integer({ minimum: 0 }), digest });

export const integrityManifest = defineManifest({
  name: 'integrity',
  kind: 'actor',
  description: 'Watches the appliance\'s code, native binaries, config, registry and trust material against a signed baseline, and canary files in the sensitive folders.',
  entry: 'actors/integrity/main.js',
  serves: {
    status: { request: s.empty(), reply: integrityStatus, description: 'State, open findings, pending changes, the last scan.', maxBytes: 1024 },
  },
  commands: {
    status: { request: s.empty(), reply: integrityStatus, description: 'State, open findings, pending changes, the last scan.', roles: ['admin', 'auditor'] },
    diff: { request: s.empty(), reply: diffReply, timeoutMs: 600_000, description: 'Hash everything now and list what differs from the baseline, with the digest a rebaseline must confirm.', roles: ['admin', 'auditor'] },
    rebaseline: { request: s.object({ confirm: digest }), reply: s.object({ generation: s.integer(), accepted: s.integer(), digest }), timeoutMs: 600_000, description: 'Accept exactly the diff whose digest is quoted as the new baseline; a different diff is refused.', roles: ['admin'] },
  },
  publishes: {
    detection,
    state_changed: s.object({ state: s.string({ enum: ['trusted', 'degraded', 'recovery_required'] }), reason: s.string({ maxLength: 1024 }), findings: s.integer({ minimum: 0 }), at: s.integer({ minimum: 0 }) }),
    baselined: s.object({ reason: s.string({ maxLength: 1024 }), generation: s.integer({ minimum: 0 }), files: s.integer({ minimum: 0 }), at: s.integer({ minimum: 0 }) }),
  },
  requests: ['policy.section'],
  subscribes: ['policy.reloaded', 'registry.promoted', 'registry.removed'],
});
