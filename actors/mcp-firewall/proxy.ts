// The MCP firewall's port: streamable HTTP on loopback, one SDK server per client session, every list and call through the firewall.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode as McpCode, ListToolsRequestSchema, McpError, SUPPORTED_PROTOCOL_VERSIONS, isInitializeRequest, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../common/log.js';
import type { ToolDefinition } from '../../policy/mcp/tool-definition.js';
import { digest, guardRequest } from './client-guard.js';

export interface ProxyDeps {
  log: Logger;
  host: '127.0.0.1' | '::1';
  port: number;
  token: string;
  /** Largest request body read (arguments plus the JSON-RPC frame). */
  maxBodyBytes(): number;
  /** Registers a session with the machine; rejects when it holds too many. */
  openSession(id: string): Promise<void>;
  closeSession(id: string): void;
  /** The exposed tools, as their servers define them now (listed again first: a silent rug pull is seen here). */
  listTools(): Promise<ToolDefinition[]>;
  /** A checked and forwarded call; throws McpError for what the client must see as a protocol error. */
  callTool(session: string, name: string, args: Record<string, unknown>): Promise<CallToolResult>;
}

export interface Proxy {
  port: number;
  /** Tells every client session that the tool list changed (a server changed, an approval, a reload). */
  toolsChanged(): void;
  close(): Promise<void>;
}

/** A session idle this long is closed: each one holds a slot of the machine's MAX_SESSIONS. */
const IDLE_MS = 30 * 60_000;

interface Session { transport: StreamableHTTPServerTransport; server: Server; seen: number }

function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > max) { reject(Object.assign(new Error(`request body over ${max} bytes`), { status: 413 })); req.destroy(); return; }
      parts.push(d);
    });
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(parts).toString('utf8'))); } catch { reject(Object.assign(new Error('request body is not JSON'), { status: 400 })); }
    });
    req.on('error', reject);
  });
}

const jsonError = (res: ServerResponse, status: number, message: string): void => {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
};

export async function startProxy(d: ProxyDeps): Promise<Proxy> {
  const sessions = new Map<string, Session>();
  const tokenDigest = digest(d.token);
  let bound = d.port;

  const newSession = async (): Promise<Session> => {
    const id = randomUUID();
    await d.openSession(id);
    const server = new Server({ name: 'secai-mcp-firewall', version: '1' }, { capabilities: { tools: { listChanged: true } } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await d.listTools() }));
    server.setRequestHandler(CallToolRequestSchema, (r) => d.callTool(id, r.params.name, (r.params.arguments ?? {}) as Record<string, unknown>));
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      enableJsonResponse: true,
      onsessionclosed: (sid) => { sessions.delete(sid); d.closeSession(sid); },
    });
    transport.onclose = () => { if (sessions.delete(id)) d.closeSession(id); };
    await server.connect(transport);
    const s = { transport, server, seen: Date.now() };
    sessions.set(id, s);
    return s;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/mcp') return jsonError(res, 404, 'the MCP endpoint is /mcp');
    const refused = guardRequest(req, { port: bound, tokenDigest });
    if (refused) return jsonError(res, refused.status, refused.reason);
    const sid = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readBody(req, d.maxBodyBytes()) : undefined;
    let s = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (typeof sid === 'string' && !s) return jsonError(res, 404, 'no such session');
    if (!s) {
      if (req.method !== 'POST' || !isInitializeRequest(body)) return jsonError(res, 400, 'no session: start with initialize');
      s = await newSession();
    }
    s.seen = Date.now();
    if (typeof sid === 'string' && await fastCall(req, res, sid, body)) return;
    await s.transport.handleRequest(req, res, body);
  };

  /**
   * tools/call, the hot path, answered here rather than through the SDK's web-standard transport (which converts
   * every Node request to a fetch Request and back): the same header checks the transport makes, the same handler,
   * the same JSON-RPC answer. Anything else (lists, notifications, batches, SSE) goes to the transport. False: not handled.
   */
  const fastCall = async (req: IncomingMessage, res: ServerResponse, sid: string, body: unknown): Promise<boolean> => {
    if (!body || typeof body !== 'object' || Array.isArray(body) || (body as { method?: unknown }).method !== 'tools/call') return false;
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
    if (!(req.headers['content-type'] ?? '').includes('application/json')) return false;
    const version = req.headers['mcp-protocol-version'];
    if (version !== undefined && (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))) return false;
    const msg = body as { jsonrpc?: unknown; id?: unknown };
    if (msg.jsonrpc !== '2.0' || (typeof msg.id !== 'string' && typeof msg.id !== 'number')) return false;
    const parsed = CallToolRequestSchema.safeParse(body);
    if (!parsed.success) return false;
    let reply: Record<string, unknown>;
    try {
      reply = { result: await d.callTool(sid, parsed.data.params.name, (parsed.data.params.arguments ?? {}) as Record<string, unknown>) };
    } catch (err) {
      const e = err instanceof McpError ? err : new McpError(McpCode.InternalError, (err as Error).message);
      reply = { error: { code: e.code, message: e.message, ...(e.data !== undefined && { data: e.data }) } };
    }
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sid }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...reply }));
    return true;
  };

  const http: HttpServer = createServer({ headersTimeout: 10_000, requestTimeout: 120_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = (err as { status?: number }).status ?? 500;
      if (status === 500) d.log.warn({ err }, 'MCP request failed');
      jsonError(res, status, (err as Error).message.slice(0, 512));
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(d.port, d.host, () => resolve());
  });
  const addr = http.address();
  bound = typeof addr === 'object' && addr ? addr.port : d.port;

  const sweep = setInterval(() => {
    const cut = Date.now() - IDLE_MS;
    for (const [id, s] of sessions) if (s.seen < cut) void s.transport.close().catch((err: unknown) => d.log.debug({ err }, 'idle MCP session close failed')).finally(() => { if (sessions.delete(id)) d.closeSession(id); });
  }, 60_000);
  sweep.unref();

  return {
    port: bound,
    toolsChanged: () => { for (const s of sessions.values()) void s.server.sendToolListChanged().catch((err: unknown) => d.log.debug({ err }, 'tools/list_changed not sent')); },
    close: async () => {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined))); // lint-ok: closing the listener; a session gone is closed
      await new Promise<void>((r) => { http.close(() => r()); http.closeAllConnections(); });
    },
  };
}
