// The registry actor's bus contract: promotion (from the quarantine actor only), listing, verification and removal.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

/** A registry name (exported: the gateway refuses anything else before it asks). */
export const registryName = s.string({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
const name = registryName;
const sha256 = s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' });
const stage = s.object({ stage: s.string({ maxLength: 32 }), verdict: s.string({ maxLength: 8 }), reason: s.string({ maxLength: 4096 }) });
export const registryEntry = s.object({
  name, sha256, size: s.integer({ minimum: 0 }), kind: s.string({ enum: ['file', 'folder'] }), format: s.string({ maxLength: 64 }),
  merkleRoot: s.any(), path: s.string({ maxLength: 512 }), stages: s.array(stage, 16), jobId: s.string({ maxLength: 64 }), promotedAt: s.string({ maxLength: 64 }),
});
const ref = s.object({ name: s.string({ minLength: 1, maxLength: 128 }) });
const verifyReply = s.object({ name: s.string({ maxLength: 128 }), ok: s.boolean(), sha256: s.string({ maxLength: 64 }), actual: s.any(), reason: s.string({ maxLength: 1024 }) });
const listReply = s.object({ models: s.array(registryEntry, 4096) });
const getReply = s.object({ entry: registryEntry, path: s.string({ maxLength: 4096 }) });
/** A web session's public handle (actors/auth/sessions.ts): names who removed a model, never the session id. */
export const sessionHandle = s.string({ minLength: 16, maxLength: 16, pattern: '^[0-9a-f]{16}$' });
/** Who removed a model: a signed operator command (its key id) or a re-authenticated web session (its handle). */
const removed = s.object({
  name, sha256, by: s.string({ enum: ['operator', 'web session'] }),
  keyId: s.string({ maxLength: 128 }), session: sessionHandle,
}, ['keyId', 'session']);

export const promoteRequest = s.object({
  jobId: s.string({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }), name, path: s.string({ minLength: 1, maxLength: 4096 }),
  kind: s.string({ enum: ['file', 'folder'] }), sha256, format: s.string({ maxLength: 64 }), merkleRoot: s.any(), stages: s.array(stage, 16),
});

export const registryManifest = defineManifest({
  name: 'registry',
  kind: 'actor',
  description: 'Trusted models: read-only copies under registry/<sha256>/ and a manifest signed by the appliance key.',
  entry: 'actors/registry/main.js',
  serves: {
    // Only the quarantine actor may request this (ACL: no other manifest lists 'registry.promote').
    promote: { request: promoteRequest, reply: registryEntry, timeoutMs: 600_000, description: 'Copy a scanned artifact into the registry, read-only, and sign its entry.' },
    list: { request: s.empty(), reply: listReply, description: 'Promoted models (from the signed manifest).' },
    get: { request: ref, reply: getReply, description: 'One model\'s entry and absolute path.' },
    verify: { request: ref, reply: verifyReply, timeoutMs: 600_000, description: 'Re-hash a model and check it against the signed manifest (call before loading).' },
    // Only the auth actor may request this (ACL: no other manifest lists 'registry.remove'), after it has
    // checked the web session and the passphrase again (auth.remove_model).
    remove: { request: s.object({ name, session: sessionHandle }), reply: registryEntry, timeoutMs: 60_000, description: 'Remove a model for a re-authenticated web session (the same removal as the signed rm).' },
  },
  commands: {
    list: { request: s.empty(), reply: listReply, description: 'Promoted models.', roles: ['operator', 'auditor'] },
    get: { request: ref, reply: getReply, description: 'One model\'s entry.', roles: ['operator', 'auditor'] },
    verify: { request: s.object({ name: s.string({ minLength: 1, maxLength: 128 }) }, ['name']), reply: s.object({ results: s.array(verifyReply, 4096) }), timeoutMs: 600_000, description: 'Re-hash one model (or all) against the signed manifest.', roles: ['operator', 'auditor'] },
    rm: { request: ref, reply: registryEntry, description: 'Remove a model from the registry.', roles: ['operator'] },
  },
  publishes: {
    promoted: registryEntry,
    removed,
    verify_failed: verifyReply,
  },
  requests: [],
  subscribes: [],
});
