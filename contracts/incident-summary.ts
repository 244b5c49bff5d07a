// What an incident looks like outside the incident actor: its id and summary (lists, events, the Security page), and
// the operator's two acts. The incident actor serves them; the auth actor (web acknowledge/resolve) and the gateway check against them.
import { s } from '../bus/schema.js';
import { INCIDENT_CLASSES, SEVERITIES } from './detection.js';

export const INCIDENT_STATES = ['open', 'contained', 'escalated', 'acknowledged', 'resolved'] as const;
export const CONTAINMENT_ACTIONS = ['lock_vault', 'end_sessions', 'disable_airlock', 'suspend_model', 'evict_model', 'freeze_agent'] as const;
/** What an operator does to an incident: acknowledge it (contained or escalated), then resolve it. */
export const OPERATOR_ACTS = ['ack', 'resolve'] as const;
export type OperatorAct = (typeof OPERATOR_ACTS)[number];

export const incidentId = s.string({ minLength: 8, maxLength: 64, pattern: '^[0-9a-z-]{8,64}$' });
export const incidentNote = s.string({ maxLength: 1024 });
const step = s.object({
  action: s.string({ enum: CONTAINMENT_ACTIONS }), status: s.string({ enum: ['pending', 'done', 'failed', 'skipped'] }), detail: s.string({ maxLength: 1024 }), at: s.nullable(s.number()),
});

/** What lists, events and the Security page show of an incident (no evidence: `incident.get` has it). */
export const incidentSummary = s.object({
  id: incidentId, class: s.string({ enum: INCIDENT_CLASSES }), key: s.string({ maxLength: 256 }), severity: s.string({ enum: SEVERITIES }),
  state: s.string({ enum: INCIDENT_STATES }), summary: s.string({ maxLength: 1024 }), count: s.integer({ minimum: 1 }),
  firstSeen: s.number(), lastSeen: s.number(), steps: s.array(step, 16), escalation: s.nullable(s.string({ maxLength: 1024 })),
  target: s.record(),
});
