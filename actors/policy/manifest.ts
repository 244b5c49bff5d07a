// The policy engine's bus contract: decisions and the policy in force; reload is a signed command.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { reloadedEvent, reloadReply, sectionReply, sectionRequest } from '../../policy/sections-contract.js';

export const decideRequest = s.object({ domain: s.string({ maxLength: 64 }), input: s.any() });
export const decisionSchema = s.object(
  {
    decision: s.string({ enum: ['allow', 'deny', 'ask'] }), domain: s.string({ maxLength: 64 }), rule: s.string({ maxLength: 128 }),
    reason: s.string({ maxLength: 1024 }), policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }), evalUs: s.number(),
  },
  ['reason'],
);
const showReply = s.object({ digest: s.string({ maxLength: 64 }), path: s.string({ maxLength: 4096 }), loadedAt: s.number(), policy: s.record() });

export const policyManifest = defineManifest({
  name: 'policy',
  kind: 'actor',
  description: 'The decision point: tool_access, path_access, egress, agent_risk, sensitivity, model_promotion → allow/deny/ask with evidence.',
  entry: 'actors/policy/main.js',
  serves: {
    decide: { request: decideRequest, reply: decisionSchema, description: 'Decide an input in a domain; denies and asks are evented.', maxBytes: 256 * 1024 },
    show: { request: s.empty(), reply: showReply, description: 'The policy in force (bound to this appliance) and its digest.' },
    section: { request: sectionRequest, reply: sectionReply, description: 'One section of the policy in force, typed, with its digest (actors apply it at start and on reloaded).' },
  },
  commands: {
    reload: { request: s.empty(), reply: reloadReply, description: 'Re-read policy.yaml; a bad file leaves the old policy in force and fails the command.', roles: ['admin'] },
    show: { request: s.empty(), reply: showReply, description: 'The policy in force, as a signed request.', roles: ['admin', 'auditor'] },
    decide: { request: decideRequest, reply: decisionSchema, description: 'Decide as an operator (securectl policy decide).', roles: ['admin', 'auditor'], maxBytes: 256 * 1024 },
  },
  publishes: {
    // Every deny and ask, one event each: evidence without the raw input (its hash is enough to match).
    decided: decisionSchema,
    // Allows are counted per domain and rule and published at most every few seconds.
    allows: s.object({
      since: s.number(), until: s.number(), policyDigest: s.string({ maxLength: 64 }),
      counts: s.array(s.object({ domain: s.string({ maxLength: 64 }), rule: s.string({ maxLength: 128 }), n: s.integer({ minimum: 1 }) }), 1024),
    }),
    // Which sections changed (by digest) and which changed keys need a restart; values are fetched with policy.section.
    reloaded: reloadedEvent,
    reload_failed: s.object({ error: s.string({ maxLength: 2048 }), kept: s.string({ maxLength: 64 }), path: s.string({ maxLength: 4096 }) }),
  },
  requests: [],
  subscribes: [],
});
