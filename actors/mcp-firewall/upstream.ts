// One upstream MCP server: an SDK client over stdio (sandboxed, no network) or streamable HTTP (loopback only), and its tools.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { McpServerRule } from '../../policy/sections.js';
import { pinnedPart, type ToolDefinition } from '../../policy/mcp/tool-definition.js';
import { sandboxCommand } from '../../workers/sandbox.js';

export interface Upstream {
  id: string;
  listTools(): Promise<ToolDefinition[]>;
  callTool(name: string, args: Record<string, unknown>, timeoutMs: number): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** A server offering more is refused rather than cut: which tools were dropped would be the server's choice. */
const MAX_TOOLS = 512;
const MAX_PAGES = 16;
const CONNECT_TIMEOUT_MS = 15_000;

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Every request to an http upstream: loopback only, no redirects (a loopback server must not bounce us elsewhere).
 * The SDK hands every request the transport's one long-lived signal; fetch would leave a listener on it per request
 * until the request is collected (thousands on a busy upstream). Each request gets its own signal instead, linked to
 * the transport's until its body ends (an event stream: until the transport closes it).
 */
export async function loopbackFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : input);
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname)) throw new SecaiError(ErrorCode.EGRESS_DENIED, `MCP upstream ${url.origin} is not on loopback`);
  const outer = init?.signal;
  if (!outer) return fetch(input, { ...init, redirect: 'error' });
  const own = new AbortController();
  const abort = () => own.abort(outer.reason);
  const unlink = () => outer.removeEventListener('abort', abort);
  if (outer.aborted) abort();
  else outer.addEventListener('abort', abort, { once: true });
  let res: Response;
  try {
    res = await fetch(input, { ...init, redirect: 'error', signal: own.signal });
  } catch (err) {
    unlink();
    throw err;
  }
  if (!res.body) { unlink(); return res; }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read().catch((err: unknown) => { unlink(); throw err; });
      if (r.done) { unlink(); c.close(); } else c.enqueue(r.value);
    },
    cancel(reason) { unlink(); return reader.cancel(reason); },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

function transportFor(rule: McpServerRule, onStderr: (line: string) => void): Transport {
  if (rule.transport === 'http') {
    if (!rule.url) throw new SecaiError(ErrorCode.CONFIG_INVALID, `mcp server ${rule.id}: http needs url`);
    return new StreamableHTTPClientTransport(new URL(rule.url), { fetch: loopbackFetch, requestInit: { redirect: 'error' } });
  }
  if (!rule.command) throw new SecaiError(ErrorCode.CONFIG_INVALID, `mcp server ${rule.id}: stdio needs command`);
  const { command, args } = sandboxCommand({ command: rule.command, args: rule.args ?? [], readOnly: rule.read_only ?? [], env: rule.env ?? {} });
  const t = new StdioClientTransport({ command, args, env: {}, stderr: 'pipe' });
  t.stderr?.on('data', (d: Buffer) => { for (const line of d.toString().split('\n')) if (line.trim()) onStderr(line.slice(0, 512)); });
  return t;
}

export interface UpstreamHooks {
  /** The server said its tools changed (notifications/tools/list_changed). */
  toolsChanged(): void;
  /** The connection ended (the process exited, the HTTP session closed). */
  closed(): void;
  stderr(line: string): void;
}

export async function connectUpstream(rule: McpServerRule, hooks: UpstreamHooks): Promise<Upstream> {
  const client = new Client({ name: 'secai-mcp-firewall', version: '1' }, { capabilities: {} });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => { hooks.toolsChanged(); });
  client.onclose = () => hooks.closed();
  const transport = transportFor(rule, hooks.stderr);
  try {
    await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
  } catch (err) {
    await client.close().catch(() => undefined); // lint-ok: the connect error is the one reported
    throw new SecaiError(ErrorCode.MCP_UPSTREAM, `mcp server ${rule.id} did not start: ${(err as Error).message}`, { cause: err });
  }
  return {
    id: rule.id,
    async listTools() {
      const out: ToolDefinition[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: CONNECT_TIMEOUT_MS });
        for (const t of r.tools) out.push(pinnedPart(t as ToolDefinition));
        if (out.length > MAX_TOOLS) throw new SecaiError(ErrorCode.MCP_UPSTREAM, `mcp server ${rule.id} offers more than ${MAX_TOOLS} tools`);
        cursor = r.nextCursor;
        if (!cursor) return out;
      }
      throw new SecaiError(ErrorCode.MCP_UPSTREAM, `mcp server ${rule.id} lists tools over more than ${MAX_PAGES} pages`);
    },
    async callTool(name, args, timeoutMs) {
      try {
        return await client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs }) as CallToolResult;
      } catch (err) {
        throw new SecaiError(ErrorCode.MCP_UPSTREAM, `mcp server ${rule.id}: ${(err as Error).message}`.slice(0, 1024), { cause: err });
      }
    },
    close: () => client.close(),
  };
}
