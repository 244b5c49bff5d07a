// tool-firewall.call: a built-in tool runs only with a capability token the policy actor minted for this exact call,
// presented once, under the policy still in force; then the firewall's own check runs again before the tool does.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';
import { ErrorCode } from '../../common/errors.js';
import {
  argsHash, checkPaths, checkPolicyDigest, peekClaims, verifyCapability, type CapabilityClaims, type CapabilityFailureCode,
} from '../../policy/capability/token.js';
import { checkTool, type CheckDeps, type ToolCheckResult } from './check.js';
import type { ToolResult } from './builtin-tools.js';

export interface CallRequest {
  token: string;
  tool: string;
  args: Record<string, unknown>;
}

export interface CallDeps {
  check: CheckDeps;
  /** The policy actor's capability key; `refresh` asks for it again (a token by an unknown key: was it rotated?). */
  capabilityKey(refresh?: boolean): Promise<Uint8Array>;
  /** Spends a nonce until its expiry (the machine's spent set). */
  spend(nonce: string, expiresAt: number): Promise<'ok' | 'replayed' | 'full'>;
  /** Runs the built-in tool on the checked real paths, by argument name. */
  run(tool: string, args: Record<string, unknown>, paths: Record<string, string>, check: ToolCheckResult): ToolResult | Promise<ToolResult>;
  now(): number;
}

export type CallOutcome =
  | { ok: true; claims: CapabilityClaims; check: ToolCheckResult; result: ToolResult; resultHash: string }
  | { ok: false; code: string; reason: string; claims: CapabilityClaims | null; check?: ToolCheckResult };

const CODES: Record<CapabilityFailureCode, string> = {
  malformed: ErrorCode.CAPABILITY_INVALID, unknown_key: ErrorCode.CAPABILITY_INVALID, forged: ErrorCode.CAPABILITY_INVALID,
  lifetime: ErrorCode.CAPABILITY_INVALID, not_yet_valid: ErrorCode.CAPABILITY_INVALID, expired: ErrorCode.CAPABILITY_EXPIRED,
  tool_mismatch: ErrorCode.CAPABILITY_SCOPE, args_mismatch: ErrorCode.CAPABILITY_SCOPE, scope: ErrorCode.CAPABILITY_SCOPE,
  stale_policy: ErrorCode.CAPABILITY_STALE_POLICY, replayed: ErrorCode.CAPABILITY_REPLAYED,
};

export const resultHashOf = (r: unknown): string => createHash('sha256').update(canonicalJson(r)).digest('hex');

export async function callTool(deps: CallDeps, req: CallRequest): Promise<CallOutcome> {
  // Unverified claims only name the refused token in evidence; nothing is decided on them.
  const peeked = peekClaims(req.token);
  const refuse = (code: string, reason: string, check?: ToolCheckResult): CallOutcome => ({ ok: false, code, reason, claims: peeked, ...(check && { check }) });
  const expect = { tool: req.tool, argsHash: argsHash(req.args), now: deps.now() };
  let v = await verifyCapability(await deps.capabilityKey(), req.token, expect);
  if (!v.ok && v.code === 'unknown_key') v = await verifyCapability(await deps.capabilityKey(true), req.token, expect);
  if (!v.ok) return refuse(CODES[v.code], v.reason);
  const claims = v.claims;
  // Spent only once the signature holds, so a forged token cannot burn a real one's nonce.
  const spent = await deps.spend(claims.nonce, claims.expiresAt);
  if (spent === 'replayed') return refuse(ErrorCode.CAPABILITY_REPLAYED, `token ${claims.nonce} was already used`);
  if (spent === 'full') return refuse(ErrorCode.RATE_LIMITED, 'too many live capability tokens');
  // Defence in depth: the firewall's own check (tool rule, rate, real paths, hard links, mounts) runs again.
  const check = await checkTool(deps.check, { tool: req.tool, args: req.args });
  const stale = checkPolicyDigest(claims, check.policyDigest);
  if (stale) return refuse(CODES[stale.code], stale.reason, check);
  if (check.decision === 'deny') return refuse(ErrorCode.POLICY_DENIED, `${check.domain} rule ${check.rule}: ${check.reason ?? 'denied'}`, check);
  if (check.decision === 'ask' && claims.approvedBy === undefined) return refuse(ErrorCode.CAPABILITY_INVALID, `${req.tool} asks an operator, and the token carries no approval`, check);
  const paths: Record<string, string> = {};
  for (const p of check.paths) if (p.realPath !== undefined) paths[p.arg] = p.realPath;
  const scope = checkPaths(claims, check.paths.map((p) => p.realPath ?? ''));
  if (scope) return refuse(CODES[scope.code], scope.reason, check);
  try {
    const result = await deps.run(req.tool, req.args, paths, check);
    return { ok: true, claims, check, result, resultHash: resultHashOf(result) };
  } catch (err) {
    return refuse((err as { code?: string }).code ?? ErrorCode.TOOL_FAILED, (err as Error).message, check);
  }
}
