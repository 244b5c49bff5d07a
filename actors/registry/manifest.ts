// The registry actor's bus contract: promotion (from the quarantine actor only), listing, verification and removal.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { listedEntry, registryEntry, registryName, sha256, stage, suspension } from '../../contracts/registry-entry.js';
import { containModelRequest, modelRef, suspendReply } from '../../contracts/model-suspension.js';

const name = registryName;
const ref = s.object({ name: s.string({ minLength: 1, maxLength: 128 }) });
const verifyReply = s.object({ name: s.string({ maxLength: 128 }), ok: s.boolean(), sha256: s.string({ maxLength: 64 }), actual: s.any(), reason: s.string({ maxLength: 1024 }) });
const listReply = s.object({ models: s.array(listedEntry, 4096) });
const getReply = s.object({ entry: listedEntry, path: s.string({ maxLength: 4096 }) });
const names = s.array(s.string({ maxLength: 128 }), 64);
/** Who may suspend a model: the incident actor alone (the ACL compiler refuses any other manifest that asks). */
export const SUSPEND_CALLERS = ['incident'] as const;
/** A web session's public handle (actors/auth/sessions.ts): names who removed a model, never the session id. */
export const sessionHandle = s.string({ minLength: 16, maxLength: 16, pattern: '^[0-9a-f]{16}$' });
/** Who removed a model: a signed operator command (its key id) or a re-authenticated web session (its handle). */
const removed = s.object({
  name, sha256, by: s.string({ enum: ['operator', 'web session'] }),
  keyId: s.string({ maxLength: 128 }), session: sessionHandle,
}, ['keyId', 'session']);

export const promoteRequest = s.object({
  jobId: s.string({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }), name, path: s.string({ minLength: 1, maxLength: 4096 }),
  kind: s.string({ enum: ['file', 'folder'] }), sha256, format: s.string({ maxLength: 64 }), merkleRoot: s.nullable(s.string({ maxLength: 64 })), stages: s.array(stage, 16),
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
    get: { request: ref, reply: getReply, description: 'One model\'s entry and absolute path, to load it: a suspended model is refused (SECAI_E_MODEL_SUSPENDED).' },
    verify: { request: ref, reply: verifyReply, timeoutMs: 600_000, description: 'Re-hash a model and check it against the signed manifest (call before loading).' },
    // Only the auth actor may request this (ACL: no other manifest lists 'registry.remove'), after it has
    // checked the web session and the passphrase again (auth.remove_model).
    remove: { request: s.object({ name, session: sessionHandle }), reply: registryEntry, timeoutMs: 60_000, description: 'Remove a model for a re-authenticated web session (the same removal as the signed rm).' },
    suspend: {
      request: containModelRequest, reply: suspendReply, callers: SUSPEND_CALLERS, maxBytes: 4096,
      description: 'Incident containment: suspend a model (its bytes, every name): refused at load, persisted in a signed record, until an operator runs securectl models unsuspend.',
    },
  },
  commands: {
    list: { request: s.empty(), reply: listReply, description: 'Promoted models.', roles: ['operator', 'auditor'] },
    get: { request: ref, reply: getReply, description: 'One model\'s entry.', roles: ['operator', 'auditor'] },
    verify: { request: s.object({ name: s.string({ minLength: 1, maxLength: 128 }) }, ['name']), reply: s.object({ results: s.array(verifyReply, 4096) }), timeoutMs: 600_000, description: 'Re-hash one model (or all) against the signed manifest.', roles: ['operator', 'auditor'] },
    rm: { request: ref, reply: registryEntry, description: 'Remove a model from the registry.', roles: ['operator'] },
    unsuspend: {
      request: s.object({ model: modelRef }), reply: s.object({ sha256, names, wasSuspendedBy: suspension }), maxBytes: 4096, roles: ['admin', 'operator'],
      description: 'Clear an incident\'s suspension of a model (securectl models unsuspend <name|sha256>); the operator key id is recorded.',
    },
  },
  publishes: {
    promoted: registryEntry,
    removed,
    verify_failed: verifyReply,
    /** An incident suspended a model (`by`: the incident id). */
    suspended: s.object({ sha256, names, by: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }), at: s.number() }),
    /** An operator cleared it (`by`: the operator key id; `incidentId`: who had suspended it). */
    unsuspended: s.object({ sha256, names, by: s.string({ maxLength: 128 }), incidentId: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }), at: s.number() }),
  },
  requests: [],
  subscribes: [],
});
