// The policy engine's bus contract: decisions and the policy in force; reload is a signed command.
import { envelopeSchema } from '../../bus/envelope.js';
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { agentIntentHash, agentPlanId, webSession } from '../../contracts/agent-web.js';
import { reloadedEvent, reloadReply, sectionReply, sectionRequest } from '../../policy/sections-contract.js';

export const decideRequest = s.object({ domain: s.string({ maxLength: 64 }), input: s.any() });
export const decisionSchema = s.object(
  {
    decision: s.string({ enum: ['allow', 'deny', 'ask'] }), domain: s.string({ maxLength: 64 }), rule: s.string({ maxLength: 128 }),
    reason: s.string({ maxLength: 1024 }), policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }), evalUs: s.number(),
  },
  ['reason'],
);
/** Only the agent asks for capabilities; only the tool firewall needs the key that verifies them. */
export const MINT_CALLERS = ['agent'] as const;
export const CAPABILITY_KEY_CALLERS = ['tool-firewall'] as const;
const hex64 = () => s.string({ maxLength: 64, pattern: '^[0-9a-f]{64}$' });
export const mintRequest = s.object(
  {
    tool: s.string({ maxLength: 64 }), args: s.record(), intentHash: hex64(), planId: s.string({ maxLength: 128, minLength: 1 }),
    step: s.integer({ minimum: 0, maximum: 1_000_000 }),
    // The operator's signed `secai.cmd.agent.approve` envelope, for a tool whose decision is ask.
    approval: envelopeSchema,
    // Instead of `approval`: the approval a web session recorded for this step (policy.approve_web); spent here.
    recorded: s.boolean(),
  },
  ['approval', 'recorded'],
);
/** Only auth records a web approval, after it checked the session and the passphrase again (auth.agent_act). */
export const APPROVE_WEB_CALLERS = ['auth'] as const;
export const approveWebRequest = s.object({ planId: agentPlanId, step: s.integer({ minimum: 0, maximum: 63 }), intentHash: agentIntentHash, session: webSession });
export const approveWebReply = s.object({
  planId: s.string({ maxLength: 64 }), step: s.integer({ minimum: 0 }), intentHash: hex64(), by: s.string({ maxLength: 64 }), until: s.integer({ minimum: 0 }),
});
export const mintReply = s.object(
  {
    decision: s.string({ enum: ['allow', 'deny', 'ask'] }), rule: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }),
    policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }),
    token: s.string({ maxLength: 16384 }), nonce: s.string({ maxLength: 64 }), expiresAt: s.integer({ minimum: 0 }),
    paths: s.array(s.string({ maxLength: 4096 }), 64), approvedBy: s.string({ maxLength: 64 }),
  },
  ['reason', 'token', 'nonce', 'expiresAt', 'paths', 'approvedBy'],
);
const mintEvidence = {
  tool: s.string({ maxLength: 64 }), planId: s.string({ maxLength: 128 }), step: s.integer({ minimum: 0 }), intentHash: s.string({ maxLength: 64 }),
  argsHash: s.string({ maxLength: 64 }), policyDigest: s.string({ maxLength: 64 }),
};
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
    mint: {
      request: mintRequest, reply: mintReply, callers: MINT_CALLERS, maxBytes: 2 * 1024 * 1024,
      description: 'A capability token for one exact tool call: tool_access and path_access on the real paths decide; ask needs an operator approval.',
    },
    approve_web: {
      request: approveWebRequest, reply: approveWebReply, callers: APPROVE_WEB_CALLERS, maxBytes: 4096,
      description: 'Records a web session\'s approval of one plan step (by "web:" and the session handle); policy.mint spends it once, for that planId, step and intentHash only, within a minute.',
    },
    // Served over the bus rather than as a .pub file: one owner of the key, no second file whose integrity needs checking.
    capability_key: {
      request: s.empty(), reply: s.object({ keyId: s.string({ maxLength: 32 }), publicKey: s.bytes(32, 32) }), callers: CAPABILITY_KEY_CALLERS,
      description: 'The public half of the capability key, for the tool firewall to verify tokens with.',
    },
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
    // Every token minted (its nonce, scope and approver) and every refusal to mint, with the rule and reason.
    minted: s.object({
      ...mintEvidence, nonce: s.string({ maxLength: 64 }), expiresAt: s.integer({ minimum: 0 }), paths: s.array(s.string({ maxLength: 4096 }), 64),
      approvedBy: s.string({ maxLength: 64 }),
    }, ['approvedBy']),
    mint_refused: s.object({
      ...mintEvidence, decision: s.string({ enum: ['deny', 'ask'] }), rule: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }),
    }),
    // A web session's approval of one plan step, recorded for policy.mint to spend (auth checked the passphrase again).
    web_approved: approveWebReply,
    reload_failed: s.object({ error: s.string({ maxLength: 2048 }), kept: s.string({ maxLength: 64 }), path: s.string({ maxLength: 4096 }) }),
  },
  requests: [],
  subscribes: [],
});
