// The tool firewall's bus contract: every tool call an agent wants to make is checked here first.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const pathVerdict = s.object(
  { arg: s.string({ maxLength: 64 }), realPath: s.string({ maxLength: 4096 }), decision: s.string({ enum: ['allow', 'deny', 'ask'] }), rule: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }) },
  ['realPath', 'reason'],
);
export const checkReply = s.object(
  {
    decision: s.string({ enum: ['allow', 'deny', 'ask'] }), domain: s.string({ maxLength: 64 }), rule: s.string({ maxLength: 128 }),
    reason: s.string({ maxLength: 1024 }), policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }), evalUs: s.number(),
    paths: s.array(pathVerdict, 64),
  },
  ['reason'],
);
export const checkRequest = s.object({ tool: s.string({ maxLength: 64 }), args: s.record() });
/** Only the agent runs built-in tools (the MCP firewall proxies other servers' tools, not these). */
export const CALL_CALLERS = ['agent'] as const;
export const callRequest = s.object({ token: s.string({ maxLength: 16384 }), tool: s.string({ maxLength: 64 }), args: s.record() });
export const callReply = s.object({
  tool: s.string({ maxLength: 64 }), nonce: s.string({ maxLength: 64 }), planId: s.string({ maxLength: 128 }), step: s.integer({ minimum: 0 }),
  rule: s.string({ maxLength: 128 }), resultHash: s.string({ maxLength: 64 }), result: s.record(),
});

export const toolFirewallManifest = defineManifest({
  name: 'tool-firewall',
  kind: 'actor',
  description: 'Default-deny tool calls: argument schemas and lengths, real-path allow/deny lists, mount escapes, token-bucket rates; runs the built-in tools only with a capability token the policy minted for the call.',
  entry: 'actors/tool-firewall/main.js',
  serves: {
    check: { request: checkRequest, reply: checkReply, description: 'May this tool run with these arguments? allow/deny/ask with evidence.', maxBytes: 2 * 1024 * 1024 },
    call: {
      request: callRequest, reply: callReply, callers: CALL_CALLERS, maxBytes: 2 * 1024 * 1024, timeoutMs: 30_000,
      description: 'Run a built-in tool (fs.list, fs.read, fs.search, fs.write) with a capability token minted by policy.mint for exactly this call.',
    },
  },
  commands: {
    check: { request: checkRequest, reply: checkReply, description: 'The same check as an operator.', roles: ['admin', 'auditor'], maxBytes: 2 * 1024 * 1024 },
  },
  publishes: {
    // Denies and asks, with arguments redacted (no secret or PII reaches the audit chain).
    checked: s.object({
      tool: s.string({ maxLength: 64 }), decision: s.string({ enum: ['allow', 'deny', 'ask'] }), rule: s.string({ maxLength: 128 }),
      reason: s.string({ maxLength: 1024 }), policyDigest: s.string({ maxLength: 64 }), inputHash: s.string({ maxLength: 64 }), args: s.record(),
    }, ['reason']),
    // Every call, allowed or refused: tool, outcome, the token's nonce and plan step, redacted arguments, the result's hash.
    called: s.object({
      tool: s.string({ maxLength: 64 }), decision: s.string({ enum: ['allow', 'deny'] }), code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 1024 }),
      rule: s.string({ maxLength: 128 }), nonce: s.string({ maxLength: 64 }), planId: s.string({ maxLength: 128 }), step: s.integer({ minimum: 0 }),
      approvedBy: s.string({ maxLength: 64 }), policyDigest: s.string({ maxLength: 64 }), resultHash: s.string({ maxLength: 64 }), args: s.record(),
    }, ['code', 'reason', 'rule', 'nonce', 'planId', 'step', 'approvedBy', 'policyDigest', 'resultHash']),
  },
  requests: ['policy.decide', 'policy.show', 'policy.capability_key'],
  subscribes: [],
});
