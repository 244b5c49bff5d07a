// An MCP tool approval outside the MCP firewall: what the web path (gateway → auth → mcp-firewall.approve_web) sends
// and gets back. The firewall serves it; the auth actor and the gateway check against it.
import { s } from '../bus/schema.js';

export const mcpServerId = s.string({ maxLength: 32 });
export const mcpToolName = s.string({ maxLength: 128 });
/** The sha256 of the canonical definition the operator reviewed: a different hash is a different tool. */
export const mcpToolHash = s.string({ pattern: '^[0-9a-f]{64}$' });

/** The pin made: the same shape as the signed command's reply (securectl mcp approve). */
export const mcpApproval = s.object({
  server: mcpServerId, tool: mcpToolName, hash: mcpToolHash, approvedBy: s.string({ maxLength: 64 }), acceptedFindings: s.array(s.string({ maxLength: 600 }), 64),
});
