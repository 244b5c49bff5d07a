// policy.mint: decides one exact tool call (tool_access, then path_access on each path argument's real path) and,
// when allowed or approved by an operator, signs a short-lived single-use capability token for it.
import { argsHash, mintCapability } from '../../policy/capability/token.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { realPath } from '../../policy/real-path.js';
import type { PolicySnapshot } from '../../policy/types.js';

export interface MintRequest {
  tool: string;
  args: Record<string, unknown>;
  intentHash: string;
  planId: string;
  step: number;
  approval?: unknown;
  /** The approval a web session recorded for this step (policy.approve_web, asked by auth alone): spent here. */
  recorded?: boolean;
}

export interface MintReply {
  decision: 'allow' | 'deny' | 'ask';
  rule: string;
  reason?: string;
  policyDigest: string;
  inputHash: string;
  token?: string;
  nonce?: string;
  expiresAt?: number;
  paths?: string[];
  approvedBy?: string;
}

export type ApprovalCheck = { ok: true; keyId: string } | { ok: false; reason: string };

export interface MintDeps {
  policy: PolicySnapshot;
  /** The policy decision (evented as policy.decide's are). */
  decide(domain: string, input: unknown): DecisionResult;
  secretKey: Uint8Array;
  /** Verifies an operator's approval for this step and spends it (one approval, one token). */
  approve(approval: unknown, req: MintRequest, argsHash: string): Promise<ApprovalCheck>;
  /** Spends the web approval recorded for exactly this plan step and intent (one approval, one token). */
  spendRecorded(req: MintRequest): Promise<ApprovalCheck>;
  now(): number;
}

const refuse = (base: DecisionResult, decision: 'deny' | 'ask', rule: string, reason: string): MintReply =>
  ({ decision, rule, reason: reason.slice(0, 1024), policyDigest: base.policyDigest, inputHash: base.inputHash });

export async function mint(deps: MintDeps, req: MintRequest): Promise<MintReply> {
  const tool = deps.decide('tool_access', { tool: req.tool, args: req.args });
  if (tool.decision === 'deny') return refuse(tool, 'deny', tool.rule, tool.reason ?? 'denied');
  const rule = deps.policy.value.tools.rules.find((r) => r.id === tool.rule);
  if (!rule) return refuse(tool, 'deny', 'tools.rule-missing', `rule ${tool.rule} is not in policy ${deps.policy.digest}`);
  // The real paths the call may touch: the token names them, and the firewall refuses a call whose paths resolve elsewhere.
  const paths: string[] = [];
  for (const [arg, spec] of Object.entries(rule.args)) {
    if (spec.type !== 'path' || typeof req.args[arg] !== 'string') continue;
    const real = realPath(req.args[arg]);
    if (!real.ok) return refuse(tool, 'deny', 'paths.real', `${arg}: ${real.reason}`);
    const d = deps.decide('path_access', { path: real.path, access: spec.access ?? 'read' });
    if (d.decision !== 'allow') return refuse(tool, 'deny', d.rule, `${arg}: ${d.reason ?? d.decision}`);
    paths.push(real.path);
  }
  const hash = argsHash(req.args);
  let approvedBy: string | undefined;
  if (tool.decision === 'ask') {
    // The agent cannot approve itself: only an admin operator's signature over this plan step turns ask into a token.
    if (req.approval === undefined && req.recorded !== true) return refuse(tool, 'ask', tool.rule, `${req.tool} needs an operator's approval of plan ${req.planId} step ${req.step}`);
    // One or the other: an envelope and a recorded approval together are not two approvals, and the envelope would hide which.
    if (req.approval !== undefined && req.recorded === true) return refuse(tool, 'deny', 'capability.approval', 'approval refused: a signed approval and a recorded one at once');
    const ok = req.approval !== undefined ? await deps.approve(req.approval, req, hash) : await deps.spendRecorded(req);
    if (!ok.ok) return refuse(tool, 'deny', 'capability.approval', `approval refused: ${ok.reason}`);
    approvedBy = ok.keyId;
  }
  const now = deps.now();
  const { token, claims } = await mintCapability(deps.secretKey, {
    tool: req.tool, argsHash: hash, ...(paths.length && { paths }), issuedAt: now,
    expiresAt: now + deps.policy.value.tools.capability_ttl_seconds * 1000,
    intentHash: req.intentHash, policyDigest: deps.policy.digest, planId: req.planId, step: req.step,
    ...(approvedBy !== undefined && { approvedBy }),
  });
  return {
    decision: 'allow', rule: tool.rule, policyDigest: tool.policyDigest, inputHash: tool.inputHash,
    token, nonce: claims.nonce, expiresAt: claims.expiresAt, paths, ...(approvedBy !== undefined && { approvedBy }),
  };
}
