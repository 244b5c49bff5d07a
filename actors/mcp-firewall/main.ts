// MCP firewall process: wiring. Servers' tools, pins, sessions' taint and counts live in machines/mcp-firewall; here are the links to the outside.
import { createHash } from 'node:crypto';
import { McpError, ErrorCode as McpCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { applianceKey } from '../../common/appliance-key.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { secaiEnv } from '../../common/env.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { mcpFirewallMachine, pinKey, toolViews, type Pin, type ToolView } from '../../machines/mcp-firewall/mcp-firewall.machine.js';
import { toolDiff, toolHash } from '../../policy/mcp/tool-definition.js';
import { redact, redactValue } from '../../policy/pii/redact.js';
import type { McpSection, McpServerRule, McpTaint } from '../../policy/sections.js';
import { ask } from '../../runtime/ask.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { clientToken } from './client-guard.js';
import { mcpFirewallManifest } from './manifest.js';
import { anchorPins, readPins, writePins } from './pins-file.js';
import { startProxy, type Proxy } from './proxy.js';
import { connectUpstream, type Upstream } from './upstream.js';

type Ctx = ActorContext<typeof mcpFirewallMachine>;

/** The open connections of this process: handles, not state (what they mean lives in the machine). */
/** `pinsSeq`: the number of the pins record on disk; each write is the next. */
interface Links { upstreams: Map<string, { rule: string; up: Upstream | null }>; proxy: Proxy | null; pinWrites: Promise<void>; pinsSeq: number }

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const FLAGGED = new Set(['changed', 'poisoned', 'shadowed']);

function views(ctx: Ctx): (ToolView & { diff: ReturnType<typeof toolDiff>; description: string })[] {
  const c = ctx.actor.getSnapshot().context;
  return toolViews(c).map((v) => {
    const offered = c.servers[v.server]!.tools[v.name]!;
    const pin = c.pins[pinKey(v.server, v.name)];
    return { ...v, diff: v.status === 'changed' && pin ? toolDiff(pin.definition, offered.definition) : [], description: (offered.definition.description ?? '').slice(0, 8192) };
  });
}

const toolsReply = (ctx: Ctx) => ({
  tools: views(ctx).map((v) => ({
    server: v.server, name: v.name, status: v.status, hash: v.hash, pinnedHash: v.pinnedHash, findings: v.findings, diff: v.diff, description: v.description,
    readOnly: v.rule?.read_only ?? false, sink: v.rule?.sink ?? 'none', taint: [...(v.rule?.taint ?? [])],
  })),
});

function status(ctx: Ctx, links: Links) {
  const c = ctx.actor.getSnapshot().context;
  const host = secaiEnv().httpHost;
  return {
    enabled: c.policy.enabled,
    url: links.proxy ? `http://${host === '::1' ? '[::1]' : host}:${links.proxy.port}/mcp` : null,
    sessions: Object.keys(c.sessions).length, calls: c.calls, refused: c.refused, pinsProblem: c.pinsProblem,
    servers: c.policy.servers.map((r) => {
      const up = c.servers[r.id];
      return { id: r.id, transport: r.transport, status: up?.status ?? 'connecting', error: up?.error ?? null, tools: Object.keys(up?.tools ?? {}).length };
    }),
  };
}

/** Lists a server's tools into the machine and events the tools that became flagged. */
async function relist(ctx: Ctx, links: Links, id: string, up: Upstream, notify = true): Promise<void> {
  const before = new Map(toolViews(ctx.actor.getSnapshot().context).map((v) => [pinKey(v.server, v.name), v.status]));
  try {
    const tools = await up.listTools();
    ctx.actor.send({ type: 'mcp.listed', server: id, tools: tools.map((definition) => ({ definition, hash: toolHash(definition) })), now: Date.now() });
  } catch (err) {
    ctx.actor.send({ type: 'mcp.server_failed', server: id, error: (err as Error).message });
    void ctx.emitOrLog('server_failed', { server: id, error: (err as Error).message.slice(0, 1024) });
  }
  for (const v of views(ctx)) {
    if (!FLAGGED.has(v.status) || before.get(pinKey(v.server, v.name)) === v.status) continue;
    ctx.log.warn({ server: v.server, tool: v.name, status: v.status, findings: v.findings.map((f) => f.kind) }, 'MCP tool flagged');
    void ctx.emitOrLog('tool_flagged', { server: v.server, tool: v.name, status: v.status, hash: v.hash, pinnedHash: v.pinnedHash, findings: v.findings, diff: v.diff });
  }
  if (notify) links.proxy?.toolsChanged();
}

async function connect(ctx: Ctx, links: Links, rule: McpServerRule): Promise<void> {
  const slot = { rule: canonicalJson(rule), up: null as Upstream | null };
  links.upstreams.set(rule.id, slot);
  try {
    const up = await connectUpstream(rule, {
      toolsChanged: () => { if (slot.up) void relist(ctx, links, rule.id, slot.up); },
      closed: () => {
        if (links.upstreams.get(rule.id) !== slot) return;
        ctx.actor.send({ type: 'mcp.server_failed', server: rule.id, error: 'the server closed the connection' });
        links.proxy?.toolsChanged();
      },
      stderr: (line) => ctx.log.debug({ server: rule.id, line }, 'MCP server stderr'),
    });
    if (links.upstreams.get(rule.id) !== slot) { await up.close(); return; }
    slot.up = up;
    await relist(ctx, links, rule.id, up);
  } catch (err) {
    ctx.log.warn({ server: rule.id, err: (err as Error).message }, 'MCP server unavailable');
    ctx.actor.send({ type: 'mcp.server_failed', server: rule.id, error: (err as Error).message });
    void ctx.emitOrLog('server_failed', { server: rule.id, error: (err as Error).message.slice(0, 1024) });
  }
}

/** Brings connections and the listener in line with the section: new or changed servers (re)connect, removed ones close. */
async function apply(ctx: Ctx, links: Links, token: string, mcp: McpSection): Promise<void> {
  ctx.actor.send({ type: 'mcp.policy', policy: mcp });
  const want = new Map(mcp.enabled ? mcp.servers.map((r) => [r.id, r]) : []);
  for (const [id, slot] of [...links.upstreams]) {
    const rule = want.get(id);
    if (rule && canonicalJson(rule) === slot.rule) continue;
    links.upstreams.delete(id);
    await slot.up?.close().catch((err: unknown) => ctx.log.debug({ err, server: id }, 'MCP server close failed'));
  }
  if (!mcp.enabled && links.proxy) { const p = links.proxy; links.proxy = null; await p.close(); }
  if (mcp.enabled && !links.proxy) {
    const env = secaiEnv();
    links.proxy = await startProxy({
      log: ctx.log, host: env.httpHost, port: env.mcpPort, token,
      maxBodyBytes: () => ctx.actor.getSnapshot().context.policy.max_arg_bytes + 64 * 1024,
      openSession: (id) => ask(ctx.actor, { type: 'mcp.session_open', session: id, now: Date.now() }),
      closeSession: (id) => ctx.actor.send({ type: 'mcp.session_closed', session: id }),
      listTools: async () => {
        // A server that changes a tool without telling (no list_changed) is caught when a client asks.
        await Promise.all([...links.upstreams].map(([id, slot]) => (slot.up ? relist(ctx, links, id, slot.up, false) : undefined)));
        const c = ctx.actor.getSnapshot().context;
        return toolViews(c).filter((v) => v.status === 'exposed').map((v) => c.servers[v.server]!.tools[v.name]!.definition);
      },
      callTool: async (session, name, args) => {
        try {
          const { taints: _, ...result } = await call(ctx, links, session, name, args);
          return result as CallToolResult;
        } catch (err) {
          const code = (err as SecaiError).code;
          // Invisible means the same answer as a tool that does not exist: the reason is in the audit event, not here.
          if (code === ErrorCode.MCP_TOOL_UNAVAILABLE) throw new McpError(McpCode.InvalidParams, `Tool ${name} not found`);
          return { isError: true, content: [{ type: 'text', text: `${code}: ${(err as Error).message}` }] };
        }
      },
    });
    ctx.log.info({ port: links.proxy.port }, 'MCP firewall listening');
  }
  await Promise.all([...want.values()].filter((r) => !links.upstreams.has(r.id)).map((r) => connect(ctx, links, r)));
  links.proxy?.toolsChanged();
}

/** Text cut to the policy's output bound and with secrets redacted; counts what was redacted. */
function cleanResult(r: CallToolResult, maxBytes: number): { result: CallToolResult; redacted: number } {
  let redacted = 0;
  let budget = maxBytes;
  const clean = (text: string): string => {
    const out = redact(text);
    if (out !== text) redacted++;
    const cut = Buffer.byteLength(out) > budget ? Buffer.from(out).subarray(0, Math.max(0, budget)).toString('utf8') + '\n[cut: mcp.max_output_bytes]' : out;
    budget -= Buffer.byteLength(cut);
    return cut;
  };
  const content = (r.content ?? []).map((b) => {
    if (b.type === 'text') return { ...b, text: clean(b.text) };
    if (b.type === 'resource' && 'text' in b.resource && typeof b.resource.text === 'string') return { ...b, resource: { ...b.resource, text: clean(b.resource.text) } };
    return b;
  });
  let structuredContent = r.structuredContent;
  if (structuredContent) {
    const red = redactValue(structuredContent) as Record<string, unknown>;
    if (canonicalJson(red) !== canonicalJson(structuredContent)) redacted++;
    structuredContent = red;
  }
  return { result: { ...r, content, ...(structuredContent && { structuredContent }) }, redacted };
}

/** One call from any client: the machine's check, the upstream call, redaction, taint, and the evidence event. */
async function call(ctx: Ctx, links: Links, session: string, name: string, args: Record<string, unknown>): Promise<CallToolResult & { taints: McpTaint[] }> {
  const t0 = performance.now();
  const argsJson = canonicalJson(args);
  const evidence = { tool: name.slice(0, 128), session: sha(session).slice(0, 16), argsHash: sha(argsJson) };
  const refuse = (err: unknown, server: string | null = null, hash: string | null = null): never => {
    const e = err as SecaiError;
    void ctx.emitOrLog('called', {
      ...evidence, server, hash, decision: 'deny', code: e.code ?? ErrorCode.INTERNAL, reason: String(e.message).slice(0, 1024),
      resultHash: null, taints: [], redacted: 0, ms: performance.now() - t0,
    });
    throw err;
  };
  const grant = await ask<{ server: string; name: string; hash: string; rule: { taint: readonly McpTaint[] } }>(
    ctx.actor, { type: 'mcp.check', session, tool: name, argBytes: Buffer.byteLength(argsJson), now: Date.now() },
  ).catch((err: unknown) => refuse(err));
  const up = links.upstreams.get(grant.server)?.up;
  if (!up) refuse(new SecaiError(ErrorCode.MCP_UPSTREAM, `mcp server ${grant.server} is not connected`), grant.server, grant.hash);
  const policy = ctx.actor.getSnapshot().context.policy;
  const raw = await up!.callTool(grant.name, args, policy.call_timeout_seconds * 1000).catch((err: unknown) => refuse(err, grant.server, grant.hash));
  const { result, redacted } = cleanResult(raw, policy.max_output_bytes);
  const taints = [...new Set<McpTaint>([...grant.rule.taint, ...(redacted ? ['secret' as const] : [])])];
  if (taints.length) ctx.actor.send({ type: 'mcp.observed', session, taints });
  const called = {
    ...evidence, server: grant.server, hash: grant.hash, decision: 'allow', code: null, reason: null,
    resultHash: sha(canonicalJson(result)), taints, redacted, ms: performance.now() - t0,
  };
  // The upstream has answered (the effect happened); its evidence goes out right after the client's answer, not
  // in front of it: the bus write would otherwise sit on every call's path.
  setImmediate(() => void ctx.emitOrLog('called', called));
  return { ...result, taints };
}

/** Pins the definition with this hash (signed command or the web page with the passphrase), once it is on disk. */
async function approve(ctx: Ctx, links: Links, req: { server: string; tool: string; hash: string; acceptFindings?: boolean }, approvedBy: string) {
  const pin = await ask<Pin>(ctx.actor, { type: 'mcp.approve', server: req.server, tool: req.tool, hash: req.hash, approvedBy, acceptFindings: req.acceptFindings ?? false, now: Date.now() });
  await links.pinWrites;
  const r = { server: req.server, tool: req.tool, hash: pin.hash, approvedBy: pin.approvedBy, acceptedFindings: pin.acceptedFindings };
  await ctx.emit('approved', r);
  links.proxy?.toolsChanged();
  return r;
}

main<typeof mcpFirewallMachine, typeof mcpFirewallManifest>({
  manifest: mcpFirewallManifest,
  machine: () => mcpFirewallMachine,
  input: async (ctx) => ({ policy: await readSection(ctx, 'mcp') }),
  publicContext: (c) => ({
    enabled: c.policy.enabled, calls: c.calls, refused: c.refused, sessions: Object.keys(c.sessions).length, pinsProblem: c.pinsProblem,
    servers: Object.fromEntries(Object.entries(c.servers).map(([id, s]) => [id, { status: s.status, tools: Object.keys(s.tools).length }])),
  }),
  ...((): Pick<Parameters<typeof main<typeof mcpFirewallMachine, typeof mcpFirewallManifest>>[0], 'ops' | 'commands' | 'start' | 'stop'> => {
    const links: Links = { upstreams: new Map(), proxy: null, pinWrites: Promise.resolve(), pinsSeq: 0 };
    return {
      ops: (ctx) => ({
        status: () => status(ctx, links),
        tools: () => toolsReply(ctx),
        call: async (req) => {
          const session = `agent:${req.session ?? 'default'}`;
          await ask(ctx.actor, { type: 'mcp.session_open', session, now: Date.now() });
          const r = await call(ctx, links, session, req.tool, req.args);
          return { content: r.content as Record<string, unknown>[], ...(r.isError !== undefined && { isError: r.isError }), ...(r.structuredContent && { structuredContent: r.structuredContent }), taints: r.taints };
        },
        // The same approval as the signed command, for a web session auth vouched for (session and passphrase checked there).
        approve_web: (req) => approve(ctx, links, req, `web:${req.session}`),
      }),
      commands: (ctx) => ({
        servers: () => status(ctx, links),
        tools: () => toolsReply(ctx),
        approve: (req, info) => approve(ctx, links, req, info.operator?.keyId ?? 'unknown'),
      }),
      start: async (ctx) => {
        const key = await applianceKey(ctx.paths.applianceKey);
        const where = { file: ctx.paths.mcpPins, anchor: ctx.paths.mcpPinsAnchor };
        const read = await readPins(where, key);
        links.pinsSeq = read.seq;
        if (read.problem) {
          ctx.log.warn({ problem: read.problem }, 'MCP pins dropped: every tool waits for a new approval');
          void ctx.emitOrLog('pins_dropped', { reason: read.problem.slice(0, 1024) });
        } else if (read.legacy) {
          // Pins from before records were numbered: numbered and anchored now, so that copy can never come back.
          await writePins(where, key, read.pins, ++links.pinsSeq);
        } else if (read.anchored !== read.seq) {
          await anchorPins(where, key, read.seq);
        }
        ctx.actor.send({ type: 'mcp.pins_loaded', pins: read.pins, problem: read.problem });
        // Pins reach the disk in the order the machine made them, each record numbered past the last; an approval
        // answers after its write.
        ctx.actor.on('pins.changed', (e) => {
          links.pinWrites = links.pinWrites.then(() => writePins(where, key, e.pins, ++links.pinsSeq)).catch((err: unknown) => { ctx.log.error({ err }, 'MCP pins not written'); });
        });
        const token = clientToken(ctx.paths.mcpClientToken);
        let applying = Promise.resolve();
        await configSection(ctx, 'mcp', (v) => { applying = applying.then(() => apply(ctx, links, token, v)); return applying; });
      },
      stop: async () => {
        await Promise.all([...links.upstreams.values()].map((s) => s.up?.close().catch(() => undefined))); // lint-ok: stopping; the process exits next
        links.upstreams.clear();
        await links.proxy?.close();
        await links.pinWrites;
      },
    };
  })(),
});
