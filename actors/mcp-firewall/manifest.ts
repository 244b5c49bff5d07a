// The MCP firewall's bus contract: its state and tools for operators, the agent's calls, approvals as signed commands.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { mcpApproval } from '../../contracts/mcp-approval.js';

const hash = s.string({ pattern: '^[0-9a-f]{64}$' });
const finding = s.object({
  kind: s.string({ maxLength: 32 }), severity: s.string({ enum: ['high', 'medium'] }), where: s.string({ maxLength: 512 }), excerpt: s.string({ maxLength: 1024 }),
});
const change = s.object({ field: s.string({ maxLength: 32 }), before: s.nullable(s.string({ maxLength: 4096 })), after: s.nullable(s.string({ maxLength: 4096 })) });
const toolStatus = s.string({ enum: ['exposed', 'unapproved', 'changed', 'poisoned', 'shadowed', 'denied'] });

export const toolView = s.object({
  server: s.string({ maxLength: 32 }), name: s.string({ maxLength: 128 }), status: toolStatus, hash, pinnedHash: s.nullable(hash),
  findings: s.array(finding, 64),
  /** Pinned definition → the one offered now, field by field (empty unless `changed`). */
  diff: s.array(change, 8),
  description: s.string({ maxLength: 8192 }), readOnly: s.boolean(), sink: s.string({ maxLength: 16 }), taint: s.array(s.string({ maxLength: 16 }), 3),
});
const toolsReply = s.object({ tools: s.array(toolView, 8192) });

export const statusReply = s.object({
  enabled: s.boolean(), url: s.nullable(s.string({ maxLength: 256 })), sessions: s.integer({ minimum: 0 }), calls: s.integer({ minimum: 0 }), refused: s.integer({ minimum: 0 }),
  /** Why the pins on disk were dropped at start (not signed, an older copy put back, deleted), until an operator approves again. */
  pinsProblem: s.nullable(s.string({ maxLength: 1024 })),
  servers: s.array(s.object({ id: s.string({ maxLength: 32 }), transport: s.string({ maxLength: 8 }), status: s.string({ maxLength: 16 }), error: s.nullable(s.string({ maxLength: 1024 })), tools: s.integer({ minimum: 0 }) }), 64),
});

const approveRequest = s.object({ server: s.string({ maxLength: 32 }), tool: s.string({ maxLength: 128 }), hash, acceptFindings: s.boolean() }, ['acceptFindings']);
const approveReply = s.object({ server: s.string({ maxLength: 32 }), tool: s.string({ maxLength: 128 }), hash, approvedBy: s.string({ maxLength: 64 }), acceptedFindings: s.array(s.string({ maxLength: 600 }), 64) });

/** An MCP tool result as the SDK shapes it: content blocks, isError, structuredContent; the firewall adds the taint it attached. */
export const callRequest = s.object({ tool: s.string({ minLength: 1, maxLength: 128 }), args: s.record(), session: s.string({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.:-]+$" }) }, ["session"]);
export const callReply = s.object({ content: s.array(s.record(), 1024), isError: s.boolean(), structuredContent: s.record(), taints: s.array(s.string({ maxLength: 16 }), 3) }, ['isError', 'structuredContent']);

export const mcpFirewallManifest = defineManifest({
  name: 'mcp-firewall',
  kind: 'actor',
  description: 'MCP proxy on 127.0.0.1:8496: default-deny tools per server, pinned definitions (rug pulls), poisoning and shadowing findings, taint flows, audited calls.',
  entry: 'actors/mcp-firewall/main.js',
  serves: {
    status: { request: s.empty(), reply: statusReply, description: 'Whether it listens, its servers and counts.' },
    tools: { request: s.empty(), reply: toolsReply, description: 'Every tool every server offers, with its status, findings and diff.', maxBytes: 64 * 1024 },
    call: { request: callRequest, reply: callReply, description: 'A tool call from the agent, through the same checks as outside clients.', timeoutMs: 120_000, maxBytes: 16 * 1024 * 1024, concurrent: true, callers: ['agent'] },
    // Only auth may ask (ACL), after it checked the web session and the passphrase again (auth.mcp_approve).
    approve_web: {
      request: s.object({ server: s.string({ maxLength: 32 }), tool: s.string({ maxLength: 128 }), hash, acceptFindings: s.boolean(), session: s.string({ minLength: 16, maxLength: 16, pattern: '^[0-9a-f]{16}$' }) }, ['acceptFindings']),
      reply: mcpApproval, callers: ['auth'], maxBytes: 4096,
      description: 'Pin the definition with this hash for a web session that proved the passphrase again; approvedBy is "web:" and the session handle.',
    },
  },
  commands: {
    servers: { request: s.empty(), reply: statusReply, description: 'securectl mcp servers.', roles: ['admin', 'auditor'] },
    tools: { request: s.empty(), reply: toolsReply, description: 'securectl mcp tools.', roles: ['admin', 'auditor'] },
    approve: { request: approveRequest, reply: approveReply, description: 'Pin the definition with this hash (securectl mcp approve SERVER TOOL HASH).', roles: ['admin'] },
  },
  publishes: {
    // Every call, allowed or refused: evidence without the arguments or output themselves (their hashes match them).
    called: s.object({
      server: s.nullable(s.string({ maxLength: 32 })), tool: s.string({ maxLength: 128 }), hash: s.nullable(hash), session: s.string({ maxLength: 64 }),
      decision: s.string({ enum: ['allow', 'deny'] }), code: s.nullable(s.string({ maxLength: 64 })), reason: s.nullable(s.string({ maxLength: 1024 })),
      argsHash: hash, resultHash: s.nullable(hash), taints: s.array(s.string({ maxLength: 16 }), 3), redacted: s.integer({ minimum: 0 }), ms: s.number(),
    }),
    // A tool whose status became changed (rug pull), poisoned or shadowed.
    tool_flagged: s.object({ server: s.string({ maxLength: 32 }), tool: s.string({ maxLength: 128 }), status: toolStatus, hash, pinnedHash: s.nullable(hash), findings: s.array(finding, 64), diff: s.array(change, 8) }),
    approved: approveReply,
    server_failed: s.object({ server: s.string({ maxLength: 32 }), error: s.string({ maxLength: 1024 }) }),
    // The pins on disk were not trusted at start (edited, foreign, an older copy put back, deleted): every one dropped.
    pins_dropped: s.object({ reason: s.string({ maxLength: 1024 }) }),
  },
  requests: ['policy.section'],
  subscribes: ['policy.reloaded'],
});
