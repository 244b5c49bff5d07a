// The incident actor's bus contract: detections in (derived from the other actors' events), incidents out, operator ack/resolve/export.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { detection } from '../../contracts/detection.js';
import { incidentId, incidentNote, incidentSummary, INCIDENT_STATES, OPERATOR_ACTS } from '../../contracts/incident-summary.js';

const STATES = INCIDENT_STATES;
const id = incidentId;
const note = incidentNote;
/** A web session's public handle (actors/auth/sessions.ts), never its id. */
const webSession = s.string({ minLength: 16, maxLength: 16, pattern: '^[0-9a-f]{16}$' });
export { incidentSummary };

/** The whole record: the summary plus its evidence (bounded), timeline and, for the overflow incident, the flood counts. */
const incidentRecord = s.object({
  incident: incidentSummary, evidence: s.array(detection, 64), timeline: s.array(s.record(), 128), flood: s.nullable(s.record()),
  repeatsSinceContained: s.integer({ minimum: 0 }), escalateAfter: s.integer({ minimum: 1 }),
});
const listRequest = s.object({ state: s.string({ enum: [...STATES, 'unresolved'] }), limit: s.integer({ minimum: 1, maximum: 1000 }) }, ['state', 'limit']);
const listReply = s.object({ incidents: s.array(incidentSummary, 1000), rejectedFiles: s.integer({ minimum: 0 }) });
const operatorAct = s.object({ id, note }, ['note']);
/** A signed forensic bundle: `securectl incidents verify-bundle FILE` checks it offline. */
export const bundleSchema = s.object({
  body: s.record(), signature: s.string({ maxLength: 256 }), publicKey: s.string({ maxLength: 1024 }), fingerprint: s.string({ maxLength: 64 }),
});
/** Why a tool-call or egress event changed an incident (transition events carry the summary and why). */
const transition = s.object({ incident: incidentSummary, reason: s.string({ maxLength: 1024 }), by: s.string({ maxLength: 128 }), note }, ['reason', 'by', 'note']);

/**
 * Subjects this actor needs whose publishers or servers do not exist yet: none now (the GPU watch and the
 * end_sessions, suspend and evict containment ops are all served). The ACL compiler refuses a subscription or request
 * of an op it does not know, so a new one waits here until its server merges.
 */
export const PENDING_AT_MERGE = {
  subscribes: [],
  requests: [],
} as const;

export const incidentManifest = defineManifest({
  name: 'incident',
  kind: 'actor',
  description: 'Turns detections into incidents: deduplicates, contains by policy (vault lock, sessions, airlock, model), escalates; operators ack, resolve and export.',
  entry: 'actors/incident/main.js',
  serves: {
    list: { request: listRequest, reply: listReply, description: 'Incidents, newest first (open ones and those on disk); `state` filters.' },
    get: { request: s.object({ id }), reply: incidentRecord, description: 'One incident with its evidence, containment steps and timeline.' },
    // Only auth may ask (ACL), after it checked the web session and the passphrase again (auth.incident_act).
    act_for_session: {
      request: s.object({ id, action: s.string({ enum: OPERATOR_ACTS }), session: webSession, note }, ['note']), reply: incidentSummary,
      callers: ['auth'], maxBytes: 4096,
      description: 'Acknowledge or resolve for a web session that proved the passphrase again; the timeline records "web operator (session HANDLE)".',
    },
  },
  commands: {
    list: { request: listRequest, reply: listReply, description: 'Incidents as a signed request (securectl incidents list).', roles: ['admin', 'auditor'] },
    get: { request: s.object({ id }), reply: incidentRecord, description: 'One incident (securectl incidents show).', roles: ['admin', 'auditor'] },
    ack: { request: operatorAct, reply: incidentSummary, description: 'Acknowledge a contained or escalated incident (the operator key id is recorded).', roles: ['admin', 'operator'] },
    resolve: { request: operatorAct, reply: incidentSummary, description: 'Resolve an acknowledged incident (the operator key id is recorded).', roles: ['admin', 'operator'] },
    export: {
      request: s.object({ id }), reply: bundleSchema, timeoutMs: 30_000, maxBytes: 4096,
      description: 'A forensic bundle of the incident, its evidence and the related audit records, signed by the appliance.', roles: ['admin', 'auditor'],
    },
  },
  publishes: {
    opened: transition,
    contained: transition,
    escalated: transition,
    acknowledged: transition,
    resolved: transition,
    /** The count grew (at 2, 4, 8 … and every 1000th repeat): the latest detection is in `reason`. */
    updated: transition,
    /** An incident file under SECAI_HOME/incidents did not verify: moved aside (kept) and opened as an integrity_violation. */
    store_rejected: s.object({ file: s.string({ maxLength: 4096 }), movedTo: s.string({ maxLength: 4096 }), reason: s.string({ maxLength: 1024 }) }),
  },
  // The containment ops (contain.ts): each is served to this actor alone (`callers` in the serving manifest).
  requests: ['policy.section', 'vault.lock', 'audit.records', 'airlock.contain', 'auth.end_sessions', 'registry.suspend', 'inference.evict', 'agent.freeze'],
  subscribes: [
    'policy.reloaded',
    // Refused signed commands of every actor (the supervisor's too), this one's included.
    '*.command_rejected',
    'auth.guess_burst',
    'audit.chain_broken',
    'registry.verify_failed',
    'inference.model_refused',
    'airlock.egress',
    'tool-firewall.checked',
    'quarantine.verdict',
    'supervisor.permission_violation',
    'integrity.detection',
    'attestor.detection',
    'gpu-watch.detection',
  ],
});
