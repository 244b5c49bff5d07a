// The MCP firewall's life: the upstream servers and the tools they offer, the pins operators approved, each client session's taint, rate buckets and counts.
import { assign, emit, enqueueActions, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import type { McpSection, McpTaint, McpToolRule } from '../../policy/sections.js';
import type { ToolDefinition } from '../../policy/mcp/tool-definition.js';
import { blocking, scanTool, type ToolFinding } from '../../policy/mcp/tool-scan.js';
import { replyError, replyOk, type Reply, type Request } from '../request.js';
import { takeToken, type Bucket } from '../tool-firewall/tool-firewall.machine.js';

/** A tool as its server offers it now: definition, its hash (computed by the actor) and what the scan found. */
export interface OfferedTool { hash: string; definition: ToolDefinition; findings: ToolFinding[] }

/** An operator's approval of one definition of one tool (or trust on first use): a different hash is a different tool. */
export interface Pin { hash: string; definition: ToolDefinition; approvedBy: string; at: number; acceptedFindings: string[] }

export interface UpstreamState { status: 'connecting' | 'ready' | 'failed'; error?: string; tools: Record<string, OfferedTool> }

export interface SessionState { taints: McpTaint[]; calls: number; opened: number }

/**
 * Why a tool is or is not offered to clients. `exposed`: allowed by policy and its definition is the pinned one.
 * `unapproved`: allowed but never pinned. `changed`: pinned, but the server now offers another definition (rug pull).
 * `poisoned`: unpinned with a high finding. `shadowed`: more than one allowed server offers the name. `denied`: policy.
 */
export type ToolStatus = 'exposed' | 'unapproved' | 'changed' | 'poisoned' | 'shadowed' | 'denied';

export interface ToolView { server: string; name: string; status: ToolStatus; hash: string; pinnedHash: string | null; findings: ToolFinding[]; rule: McpToolRule | null }

export interface McpFirewallContext {
  policy: McpSection;
  servers: Record<string, UpstreamState>;
  pins: Record<string, Pin>;
  sessions: Record<string, SessionState>;
  buckets: Record<string, Bucket>;
  calls: number;
  refused: number;
  /** Why the pins on disk were dropped at start (not signed, rolled back, deleted); cleared by an operator's approval. */
  pinsProblem: string | null;
}

/** The checked call the actor forwards: where it goes and under which rule. */
export interface CallGrant { server: string; name: string; hash: string; rule: McpToolRule }

export type McpFirewallEvent =
  | { type: 'mcp.policy'; policy: McpSection }
  | { type: 'mcp.listed'; server: string; tools: { definition: ToolDefinition; hash: string }[]; now: number }
  | { type: 'mcp.server_failed'; server: string; error: string }
  | { type: 'mcp.pins_loaded'; pins: Record<string, Pin>; problem: string | null }
  | ({ type: 'mcp.approve'; server: string; tool: string; hash: string; approvedBy: string; acceptFindings: boolean; now: number } & Request)
  | ({ type: 'mcp.session_open'; session: string; now: number } & Request)
  | { type: 'mcp.session_closed'; session: string }
  | ({ type: 'mcp.check'; session: string; tool: string; argBytes: number; now: number } & Request)
  | { type: 'mcp.observed'; session: string; taints: McpTaint[] };

export type McpFirewallEmitted = Reply | { type: 'pins.changed'; pins: Record<string, Pin> };

export const pinKey = (server: string, tool: string): string => `${server}/${tool}`;
/** Sessions held at once; a client past this is refused (each holds only a taint set, but a flood must not grow it). */
export const MAX_SESSIONS = 256;

const ruleOf = (policy: McpSection, server: string, tool: string): McpToolRule | null =>
  policy.servers.find((s) => s.id === server)?.tools.find((t) => t.name === tool) ?? null;

/**
 * Every tool every server offers, with its status: what tools/list shows clients (the exposed ones) and the MCP page
 * shows operators (all). With `only`, the offers of that one tool name (a call's check: the same statuses, less work).
 */
export function toolViews(c: Pick<McpFirewallContext, 'policy' | 'servers' | 'pins'>, only?: string): ToolView[] {
  const names = (up: UpstreamState): string[] => (only === undefined ? Object.keys(up.tools) : Object.hasOwn(up.tools, only) ? [only] : []);
  const allowedBy = new Map<string, number>();
  for (const [server, up] of Object.entries(c.servers)) {
    for (const name of names(up)) {
      if (ruleOf(c.policy, server, name)?.decision !== 'allow') continue;
      allowedBy.set(name, (allowedBy.get(name) ?? 0) + 1);
    }
  }
  const out: ToolView[] = [];
  for (const [server, up] of Object.entries(c.servers)) {
    for (const name of names(up)) {
      const t = up.tools[name]!;
      const rule = ruleOf(c.policy, server, name);
      const pin = c.pins[pinKey(server, name)];
      const status: ToolStatus = rule?.decision !== 'allow' ? 'denied'
        : (allowedBy.get(name) ?? 0) > 1 ? 'shadowed'
          : pin ? (pin.hash === t.hash ? 'exposed' : 'changed')
            : blocking(t.findings) ? 'poisoned' : 'unapproved';
      out.push({ server, name, status, hash: t.hash, pinnedHash: pin?.hash ?? null, findings: t.findings, rule });
    }
  }
  return out;
}

/** The denied flow for a session holding `taints` calling a tool that sinks into `sink`, or null. */
export function deniedFlow(policy: McpSection, taints: readonly McpTaint[], sink: McpToolRule['sink']): { taint: McpTaint; sink: string } | null {
  for (const f of policy.deny_flows) if (f.sink === sink && taints.includes(f.taint)) return { taint: f.taint, sink };
  return null;
}

type Verdict = { ok: true; grant: CallGrant; bucket?: { key: string; value: Bucket } } | { ok: false; code: string; message: string; status?: ToolStatus; bucket?: { key: string; value: Bucket } };

function checkCall(c: McpFirewallContext, e: Extract<McpFirewallEvent, { type: 'mcp.check' }>): Verdict {
  const session = c.sessions[e.session];
  if (!session) return { ok: false, code: ErrorCode.MCP_REFUSED, message: 'unknown session' };
  const offers = toolViews(c, e.tool);
  const view = offers.find((v) => v.status === 'exposed') ?? offers[0];
  if (!view || view.status !== 'exposed' || !view.rule) {
    return { ok: false, code: ErrorCode.MCP_TOOL_UNAVAILABLE, message: `tool ${e.tool} is ${view ? view.status : 'not offered'}`, ...(view && { status: view.status }) };
  }
  if (e.argBytes > c.policy.max_arg_bytes) return { ok: false, code: ErrorCode.MCP_REFUSED, message: `arguments of ${e.argBytes} bytes exceed mcp.max_arg_bytes ${c.policy.max_arg_bytes}` };
  const key = pinKey(view.server, view.name);
  const { bucket, taken } = takeToken(c.buckets[key], c.policy.rate.capacity, c.policy.rate.refill_per_sec, e.now);
  if (!taken) return { ok: false, code: ErrorCode.RATE_LIMITED, message: `rate limit of ${key} exceeded`, bucket: { key, value: bucket } };
  const flow = deniedFlow(c.policy, session.taints, view.rule.sink);
  if (flow) {
    return { ok: false, code: ErrorCode.MCP_FLOW_DENIED, message: `this session holds ${flow.taint}-tainted data and ${view.name} is a ${flow.sink} tool (mcp.deny_flows)`, bucket: { key, value: bucket } };
  }
  return { ok: true, grant: { server: view.server, name: view.name, hash: view.hash, rule: view.rule }, bucket: { key, value: bucket } };
}

/** Scans every offered tool again: a cross-reference finding depends on what the other servers offer. */
function rescanned(servers: Record<string, UpstreamState>): Record<string, UpstreamState> {
  const out: Record<string, UpstreamState> = {};
  for (const [id, up] of Object.entries(servers)) {
    const others = Object.entries(servers).filter(([o]) => o !== id).flatMap(([, u]) => Object.keys(u.tools));
    out[id] = { ...up, tools: Object.fromEntries(Object.entries(up.tools).map(([n, t]) => [n, { ...t, findings: scanTool(t.definition, others) }])) };
  }
  return out;
}

/** Pins made by trust on first use: an allowed, unpinned tool of a server that trusts on first use, with no high finding. */
function firstUsePins(c: McpFirewallContext, now: number): Record<string, Pin> {
  const add: Record<string, Pin> = {};
  for (const v of toolViews(c)) {
    if (v.status !== 'unapproved') continue;
    if (!c.policy.servers.find((s) => s.id === v.server)?.trust_on_first_use) continue;
    const t = c.servers[v.server]!.tools[v.name]!;
    add[pinKey(v.server, v.name)] = { hash: t.hash, definition: t.definition, approvedBy: 'trust_on_first_use', at: now, acceptedFindings: [] };
  }
  return add;
}

export const mcpFirewallMachine = setup({
  types: {} as { context: McpFirewallContext; events: McpFirewallEvent; emitted: McpFirewallEmitted; input: { policy: McpSection } },
}).createMachine({
  id: 'mcp-firewall',
  initial: 'serving',
  context: ({ input }) => ({ policy: input.policy, servers: {}, pins: {}, sessions: {}, buckets: {}, calls: 0, refused: 0, pinsProblem: null }),
  states: {
    serving: {
      on: {
        'mcp.policy': {
          actions: assign({
            policy: ({ event }) => event.policy,
            servers: ({ context, event }) => Object.fromEntries(Object.entries(context.servers).filter(([id]) => event.policy.servers.some((s) => s.id === id))),
          }),
        },
        'mcp.pins_loaded': { actions: assign({ pins: ({ event }) => event.pins, pinsProblem: ({ event }) => event.problem }) },
        'mcp.listed': {
          actions: [
            assign({
              servers: ({ context, event }) => rescanned({
                ...context.servers,
                [event.server]: { status: 'ready', tools: Object.fromEntries(event.tools.map((t) => [t.definition.name, { ...t, findings: [] }])) },
              }),
            }),
            // Trust on first use pins what a trusting server lists unpinned; only new pins are written. A drop at start
            // stays shown: an operator's approval, not a trusting server, answers it.
            enqueueActions(({ context, event, enqueue }) => {
              const first = firstUsePins(context, event.now);
              if (!Object.keys(first).length) return;
              const pins = { ...context.pins, ...first };
              enqueue.assign({ pins });
              enqueue.emit({ type: 'pins.changed' as const, pins });
            }),
          ],
        },
        'mcp.server_failed': {
          actions: assign({ servers: ({ context, event }) => ({ ...context.servers, [event.server]: { status: 'failed', error: event.error.slice(0, 1024), tools: {} } }) }),
        },
        'mcp.approve': [
          {
            guard: ({ context, event }) => {
              const t = context.servers[event.server]?.tools[event.tool];
              return !!t && t.hash === event.hash && (!blocking(t.findings) || event.acceptFindings) && ruleOf(context.policy, event.server, event.tool)?.decision === 'allow';
            },
            actions: [
              assign({
                pins: ({ context, event }) => {
                  const t = context.servers[event.server]!.tools[event.tool]!;
                  const pin: Pin = { hash: t.hash, definition: t.definition, approvedBy: event.approvedBy, at: event.now, acceptedFindings: t.findings.map((f) => `${f.kind}@${f.where}`) };
                  return { ...context.pins, [pinKey(event.server, event.tool)]: pin };
                },
                // The pins written next are numbered past the anchor: what was dropped at start is behind us.
                pinsProblem: null,
              }),
              emit(({ context }) => ({ type: 'pins.changed' as const, pins: context.pins })),
              emit(({ context, event }) => replyOk(event.requestId, context.pins[pinKey(event.server, event.tool)])),
            ],
          },
          {
            actions: emit(({ context, event }) => {
              const t = context.servers[event.server]?.tools[event.tool];
              if (!t) return replyError(event.requestId, { code: ErrorCode.MCP_TOOL_UNAVAILABLE, message: `server ${event.server} offers no tool ${event.tool}` });
              if (ruleOf(context.policy, event.server, event.tool)?.decision !== 'allow') return replyError(event.requestId, { code: ErrorCode.MCP_REFUSED, message: `policy mcp does not allow ${event.server}/${event.tool}: add it to the server's tools first` });
              if (t.hash !== event.hash) return replyError(event.requestId, { code: ErrorCode.MCP_TOOL_CHANGED, message: `${event.server}/${event.tool} is now ${t.hash}, not ${event.hash}: review the definition again` });
              return replyError(event.requestId, { code: ErrorCode.MCP_TOOL_POISONED, message: `${event.server}/${event.tool} has findings (${t.findings.map((f) => f.kind).join(', ')}): approve with accept-findings only after reading them` });
            }),
          },
        ],
        'mcp.session_open': [
          // Opening a session again keeps its taint: a client cannot wash its data by reopening.
          { guard: ({ context, event }) => !!context.sessions[event.session], actions: emit(({ event }) => replyOk(event.requestId, true)) },
          {
            guard: ({ context }) => Object.keys(context.sessions).length < MAX_SESSIONS,
            actions: [
              assign({ sessions: ({ context, event }) => ({ ...context.sessions, [event.session]: { taints: [], calls: 0, opened: event.now } }) }),
              emit(({ event }) => replyOk(event.requestId, true)),
            ],
          },
          { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.MCP_REFUSED, message: `${MAX_SESSIONS} MCP sessions are open` })) },
        ],
        'mcp.session_closed': { actions: assign({ sessions: ({ context, event }) => Object.fromEntries(Object.entries(context.sessions).filter(([id]) => id !== event.session)) }) },
        'mcp.check': {
          // The verdict is computed once: the reply and the counts, bucket and session it changes.
          actions: enqueueActions(({ context, event, enqueue }) => {
            const v = checkCall(context, event);
            const s = context.sessions[event.session];
            enqueue.assign({
              calls: context.calls + 1,
              refused: context.refused + (v.ok ? 0 : 1),
              buckets: v.bucket ? { ...context.buckets, [v.bucket.key]: v.bucket.value } : context.buckets,
              sessions: s && v.ok ? { ...context.sessions, [event.session]: { ...s, calls: s.calls + 1 } } : context.sessions,
            });
            enqueue.emit(v.ok ? replyOk(event.requestId, v.grant) : replyError(event.requestId, { code: v.code, message: v.message }));
          }),
        },
        'mcp.observed': {
          actions: assign({
            sessions: ({ context, event }) => {
              const s = context.sessions[event.session];
              if (!s) return context.sessions;
              return { ...context.sessions, [event.session]: { ...s, taints: [...new Set([...s.taints, ...event.taints])] } };
            },
          }),
        },
      },
    },
  },
});
