// The web UI's MCP page: the MCP firewall's state and every tool it knows, and approving a tool definition with the
// passphrase again (through auth, throttled like login; auth alone may ask the firewall to pin for a web session).
import type { IncomingMessage } from 'node:http';
import { serveOp } from '../../../bus/op-ref.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { authManifest, mcpFirewallManifest } from '../../../runtime/catalog.js';
import { readJson, sendJson, type Route } from '../http.js';
import { sessionCookie } from '../auth-guard.js';
import type { GatewayDeps } from '../deps.js';

export interface ApproveBody { server: string; tool: string; hash: string; acceptFindings: boolean; passphrase: string }

const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** `{ server, tool, hash, acceptFindings?, passphrase }`, checked before anything reaches the bus. */
export async function approveBody(req: IncomingMessage): Promise<ApproveBody> {
  const b = await readJson<Record<string, unknown>>(req, 8192);
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'expected a JSON object { server, tool, hash, acceptFindings?, passphrase }');
  if (!str(b['server'], 32) || !str(b['tool'], 128)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'server (at most 32 characters) and tool (at most 128) are required');
  if (typeof b['hash'] !== 'string' || !/^[0-9a-f]{64}$/.test(b['hash'])) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'hash must be the 64 hex digits of the definition reviewed');
  if (b['acceptFindings'] !== undefined && typeof b['acceptFindings'] !== 'boolean') throw new SecaiError(ErrorCode.BAD_MESSAGE, 'acceptFindings must be true or false');
  if (!str(b['passphrase'], 1024)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'passphrase is required: approving an MCP tool needs it again');
  return { server: b['server'], tool: b['tool'], hash: b['hash'], acceptFindings: b['acceptFindings'] === true, passphrase: b['passphrase'] };
}

export function mcpRoutes(d: GatewayDeps): Route[] {
  return [
    {
      method: 'GET', path: '/api/mcp', access: 'session',
      handler: async ({ res }) => {
        const [status, tools] = await Promise.all([d.bus.call(serveOp(mcpFirewallManifest, 'status'), {}), d.bus.call(serveOp(mcpFirewallManifest, 'tools'), {})]);
        sendJson(res, 200, { status, tools: tools.tools });
      },
    },
    {
      method: 'POST', path: '/api/mcp/approve', access: 'session',
      handler: async ({ req, res }) => {
        const b = await approveBody(req);
        const sessionId = (sessionCookie(req) ?? '').slice(0, 64);
        sendJson(res, 200, { approved: await d.bus.call(serveOp(authManifest, 'mcp_approve'), { sessionId, ...b }, 60_000) });
      },
    },
  ];
}
