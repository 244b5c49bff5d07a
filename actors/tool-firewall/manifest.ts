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

export const toolFirewallManifest = defineManifest({
  name: 'tool-firewall',
  kind: 'actor',
  description: 'Default-deny tool calls: argument schemas and lengths, real-path allow/deny lists, mount escapes, token-bucket rates.',
  entry: 'actors/tool-firewall/main.js',
  serves: {
    check: { request: checkRequest, reply: checkReply, description: 'May this tool run with these arguments? allow/deny/ask with evidence.', maxBytes: 2 * 1024 * 1024 },
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
  },
  requests: ['policy.decide', 'policy.show'],
  subscribes: [],
});
