// What a detector tells the incident actor: one fact that something suspicious happened, with its evidence.
// The detector actors (integrity, attestor, gpu-watch) publish it as `secai.evt.<actor>.detection`; the incident
// actor also derives detections from the other actors' own events (a refused command, a broken chain, a guess
// burst). One shape for both, so the incident machine sees one kind of input.
import { s, type Static } from '../bus/schema.js';

/** The nine incident classes (docs/incidents.md). Anything else is refused at the boundary. */
export const INCIDENT_CLASSES = [
  'attestation_failure',
  'policy_bypass_attempt',
  'manifest_mismatch',
  'forbidden_airlock_request',
  'prompt_injection',
  'tool_call_burst',
  'model_behavior_anomaly',
  'integrity_violation',
  'unauthorized_access',
] as const;
export type IncidentClass = (typeof INCIDENT_CLASSES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const detection = s.object(
  {
    class: s.string({ enum: INCIDENT_CLASSES }),
    /**
     * What makes two detections the same cause (deduplication): e.g. `canary:vault/.canary`,
     * `model:<name>`, `identity:<user>`. A storm of one key is one incident with a count.
     */
    key: s.string({ minLength: 1, maxLength: 256 }),
    /** One line an operator reads first. */
    summary: s.string({ minLength: 1, maxLength: 1024 }),
    /** The detector's own view of how bad it is; policy may raise or lower it. */
    severity: s.string({ enum: SEVERITIES }),
    /** The facts: paths, digests expected and found, subjects, identities, counts. No secrets. */
    evidence: s.record(),
    /** What the incident's containment may need to act on (the model to suspend, the identity). */
    target: s.object({ model: s.string({ maxLength: 128 }), identity: s.string({ maxLength: 64 }), path: s.string({ maxLength: 4096 }) }, ['model', 'identity', 'path']),
    /** When the detector saw it (ms since the epoch). */
    at: s.integer({ minimum: 0 }),
  },
  ['target'],
);
export type Detection = Static<typeof detection>;
