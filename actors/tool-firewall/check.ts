// The tool firewall's check: tool rule and arguments, rate limit, then every path argument on its real path.
import { lstatSync } from 'node:fs';
import { hardLinkReason } from '../../common/no-follow.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { mountOf } from './mounts.js';
import { realPath } from '../../policy/real-path.js';

export interface ToolCheckRequest {
  tool: string;
  args: Record<string, unknown>;
}

export interface PathVerdict {
  arg: string;
  realPath?: string;
  decision: 'allow' | 'deny' | 'ask';
  rule: string;
  reason?: string;
  /** The file's link count, when more than one name refused it (paths.hard_link). */
  nlink?: number;
}

export interface ToolCheckResult extends DecisionResult {
  paths: PathVerdict[];
}

export interface CheckDeps {
  /** The policy decision point (the policy actor over the bus, or the pure function in tests). */
  decide(domain: string, input: unknown): Promise<DecisionResult> | DecisionResult;
  /** The policy in force, for rates, roots and mount rules (matched to a decision by digest). */
  policy(digest: string): Promise<PolicySnapshot> | PolicySnapshot;
  /** Takes a token from a rule's bucket (the machine's buckets in the actor; a RateLimiter in tests). */
  limiter: { take(key: string, capacity: number, refillPerSec: number): boolean | Promise<boolean> };
  mounts(): readonly string[];
}

const denyWith = (base: DecisionResult, rule: string, reason: string, paths: PathVerdict[]): ToolCheckResult =>
  ({ ...base, decision: 'deny', rule, reason, paths });

export async function checkTool(deps: CheckDeps, req: ToolCheckRequest): Promise<ToolCheckResult> {
  const tool = await deps.decide('tool_access', { tool: req.tool, args: req.args });
  if (tool.decision === 'deny') return { ...tool, paths: [] };
  const policy = await deps.policy(tool.policyDigest);
  const rule = policy.value.tools.rules.find((r) => r.id === tool.rule);
  if (!rule) return denyWith(tool, 'tools.rule-missing', `rule ${tool.rule} is not in policy ${policy.digest}`, []);
  if (!await deps.limiter.take(rule.id, rule.rate.capacity, rule.rate.refill_per_sec)) {
    return denyWith(tool, `rate.${rule.id}`, `rate limit of ${rule.tool} exceeded`, []);
  }
  const paths: PathVerdict[] = [];
  for (const [arg, spec] of Object.entries(rule.args)) {
    if (spec.type !== 'path' || typeof req.args[arg] !== 'string') continue;
    const real = realPath(req.args[arg]);
    if (!real.ok) {
      paths.push({ arg, decision: 'deny', rule: 'paths.real', reason: real.reason });
      return denyWith(tool, 'paths.real', `${arg}: ${real.reason}`, paths);
    }
    const d = await deps.decide('path_access', { path: real.path, access: spec.access ?? 'read' });
    const v: PathVerdict = { arg, realPath: real.path, decision: d.decision, rule: d.rule, ...(d.reason !== undefined && { reason: d.reason }) };
    paths.push(v);
    if (d.decision !== 'allow') return denyWith(tool, d.rule, `${arg}: ${d.reason ?? d.decision}`, paths);
    // Real-path resolution cannot see a hard link: a second name inside the root for a file outside it.
    const linked = hardLinks(real.path);
    if (linked) {
      Object.assign(v, { decision: 'deny', rule: 'paths.hard_link', reason: linked.reason, nlink: linked.nlink });
      return denyWith(tool, 'paths.hard_link', `${arg}: ${linked.reason}`, paths);
    }
    const root = policy.value.paths.allow.find((a) => a.id === d.rule);
    if (root && !policy.value.paths.cross_mounts) {
      const mounts = deps.mounts();
      const [pm, rm] = [mountOf(real.path, mounts), mountOf(root.root, mounts)];
      if (pm !== rm) {
        v.decision = 'deny'; v.rule = 'paths.cross_mount'; v.reason = `on mount ${pm}, root ${root.root} is on ${rm}`;
        return denyWith(tool, 'paths.cross_mount', `${arg}: crosses into mount ${pm}`, paths);
      }
    }
  }
  return { ...tool, paths };
}

/**
 * The refusal for a file with more than one name, or null. A path that does not exist yet (a new file to
 * write) has none; the tool's own open (openFileNoFollow) checks again on the descriptor, since a link can
 * be made between this check and that open.
 */
function hardLinks(path: string): { reason: string; nlink: number } | null {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Absent: a new file. Anything else (EACCES, ELOOP after a swap) cannot be shown to have one name.
    return code === 'ENOENT' ? null : { reason: `${path} cannot be examined for hard links: ${code ?? 'error'}`, nlink: 0 };
  }
  const reason = hardLinkReason(path, st);
  return reason ? { reason, nlink: st.nlink } : null;
}
