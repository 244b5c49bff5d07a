// securectl mcp verbs: the MCP firewall's servers and tools, and approving a tool definition by its hash (signed commands).
import { commandOp } from '../bus/op-ref.js';
import { mcpFirewallManifest, type statusReply, type toolView } from '../actors/mcp-firewall/manifest.js';
import type { Static } from '../bus/schema.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, printJson, type CliSession } from './cli-common.js';

type McpVerb = (s: CliSession, args: string[], o: { json: boolean; acceptFindings?: boolean }) => Promise<number>;
type Status = Static<typeof statusReply>;
type Tool = Static<typeof toolView>;

/** Statuses that mean a server offers something an operator must look at: a rug pull, a poisoned or a shadowing tool. */
export const FLAGGED: readonly string[] = ['changed', 'poisoned', 'shadowed'];
const HASH = /^[0-9a-f]{64}$/;
const oneLine = (v: string | null, max = 200) => (v === null ? '(none)' : JSON.stringify(v.length > max ? `${v.slice(0, max)}…` : v));

function printServers(r: Status): void {
  if (!r.enabled) process.stdout.write('mcp firewall: disabled (policy.yaml mcp.enabled: false)\n');
  else process.stdout.write(`mcp firewall: ${r.url ? `listening on ${r.url}` : 'NOT listening'}, ${r.sessions} session(s), ${r.calls} call(s), ${r.refused} refused\n`);
  if (r.pinsProblem) process.stdout.write(`  PINS DROPPED at start, every tool waits for a new approval: ${r.pinsProblem}\n`);
  for (const s of r.servers) process.stdout.write(`  ${s.id.padEnd(16)} ${s.transport.padEnd(6)} ${s.status.padEnd(10)} ${s.tools} tool(s)${s.error ? `  error: ${s.error}` : ''}\n`);
  if (r.enabled && !r.servers.length) process.stdout.write('  no servers in policy.yaml mcp.servers\n');
}

function printTools(tools: Tool[]): void {
  if (!tools.length) process.stdout.write('no tools offered\n');
  for (const t of tools) {
    process.stdout.write(`${`${t.server}/${t.name}`.padEnd(36)} ${t.status.toUpperCase().padEnd(10)} ${t.hash}\n`);
    if (t.pinnedHash && t.pinnedHash !== t.hash) process.stdout.write(`  pinned: ${t.pinnedHash}\n`);
    for (const f of t.findings) process.stdout.write(`  finding [${f.severity}] ${f.kind} at ${f.where}: ${oneLine(f.excerpt)}\n`);
    for (const c of t.diff) process.stdout.write(`  changed ${c.field}:\n    - ${oneLine(c.before, 400)}\n    + ${oneLine(c.after, 400)}\n`);
    if (t.status === 'unapproved' || t.status === 'changed' || t.status === 'poisoned') {
      process.stdout.write(`  approve after review: securectl mcp approve ${t.server} ${t.name} ${t.hash}${t.findings.some((f) => f.severity === 'high') ? ' --accept-findings' : ''}\n`);
    }
  }
}

export const mcpVerbs: Record<string, McpVerb> = {
  'mcp servers': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(mcpFirewallManifest, 'servers'), {});
    if (o.json) printJson(r);
    else printServers(r);
    // A server that failed is something found: its tools are unavailable and the reason is in `error`.
    return r.servers.some((x) => x.status === 'failed') ? Exit.FOUND : Exit.OK;
  },
  'mcp tools': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(mcpFirewallManifest, 'tools'), {});
    if (o.json) printJson(r);
    else printTools(r.tools);
    return r.tools.some((t) => FLAGGED.includes(t.status)) ? Exit.FOUND : Exit.OK;
  },
  'mcp approve': async (s, args, o) => {
    const [server, tool, hash] = args;
    if (!server || !tool || !hash || args.length > 3) throw new SecaiError(ErrorCode.USAGE, 'mcp approve needs SERVER TOOL HASH (the hash securectl mcp tools shows)');
    if (!HASH.test(hash)) throw new SecaiError(ErrorCode.USAGE, 'HASH is the 64 hex digits of the definition you reviewed (securectl mcp tools)');
    const r = await s.bus.callCommand(s.key, commandOp(mcpFirewallManifest, 'approve'), { server, tool, hash, ...(o.acceptFindings === true && { acceptFindings: true }) });
    if (o.json) printJson(r);
    else {
      process.stdout.write(`${r.server}/${r.tool} approved: ${r.hash} (by ${r.approvedBy})\n`);
      if (r.acceptedFindings.length) process.stdout.write(`  findings accepted: ${r.acceptedFindings.join(', ')}\n`);
    }
    return Exit.OK;
  },
};

export const MCP_USAGE = `  mcp servers                the MCP firewall: its URL, each upstream server and its status (exit 1 when a server failed)
  mcp tools                  every tool: server, name, status (exposed, unapproved, changed, poisoned, shadowed, denied),
                             hash, findings and, when changed, the diff (exit 1 when any is changed, poisoned or shadowed)
  mcp approve SERVER TOOL HASH [--accept-findings]
                             pin the definition with this hash (signed); --accept-findings for one with findings`;
