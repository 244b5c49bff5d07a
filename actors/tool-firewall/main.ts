// Tool firewall process: wiring. The policy it checks against, the rate buckets, the capability key, the spent token nonces and the counts live in machines/tool-firewall.
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';
import { SecaiError } from '../../common/errors.js';
import { decide, type DecisionResult } from '../../policy/decide/index.js';
import { redactValue } from '../../policy/pii/redact.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { runBuiltin } from './builtin-tools.js';
import { callTool, type CallRequest } from './call.js';
import { checkTool, type CheckDeps, type ToolCheckRequest } from './check.js';
import { toolFirewallManifest } from './manifest.js';
import { readMountPoints } from './mounts.js';

type Ctx = ActorContext<typeof toolFirewallMachine>;

function checkDeps(ctx: Ctx): CheckDeps {
  return {
    decide: (domain, input) => ctx.bus.request<DecisionResult>('policy', 'decide', { domain, input }),
    // The machine keeps the policy of the last digest seen; a decision under a newer digest fetches it once.
    policy: async (digest) => {
      const held = ctx.actor.getSnapshot().context.policy;
      if (held?.digest === digest) return held as PolicySnapshot;
      const s = await ctx.bus.request<{ digest: string; policy: PolicySnapshot['value'] }>('policy', 'show');
      ctx.actor.send({ type: 'firewall.policy', digest: s.digest, value: s.policy });
      return { digest: s.digest, value: s.policy };
    },
    limiter: { take: (key, capacity, refillPerSec) => ask<boolean>(ctx.actor, { type: 'firewall.take', key, capacity, refillPerSec, now: Date.now() }) },
    mounts: () => readMountPoints(),
  };
}

async function run(ctx: Ctx, req: ToolCheckRequest) {
  const r = await checkTool(checkDeps(ctx), req);
  ctx.actor.send({ type: 'firewall.checked', decision: r.decision });
  if (r.decision !== 'allow') {
    const args = redactValue(req.args) as Record<string, unknown>;
    ctx.log.info({ tool: req.tool, decision: r.decision, rule: r.rule, args }, 'tool call not allowed');
    void ctx.emitOrLog('checked', {
      tool: req.tool, decision: r.decision, rule: r.rule, policyDigest: r.policyDigest, inputHash: r.inputHash, args,
      ...(r.reason !== undefined && { reason: (redactValue(r.reason) as string).slice(0, 1024) }),
    });
  }
  return r;
}

/** Runs a call and events it, allowed or refused; a refusal is thrown with its stable code after the event is sent. */
async function call(ctx: Ctx, req: CallRequest) {
  const deps = checkDeps(ctx);
  const outcome = await callTool({
    check: deps,
    capabilityKey: async (refresh) => {
      const held = ctx.actor.getSnapshot().context.capabilityKey;
      if (held && !refresh) return held;
      const k = await ctx.bus.request<{ publicKey: Uint8Array }>('policy', 'capability_key');
      ctx.actor.send({ type: 'firewall.capability_key', publicKey: k.publicKey });
      return k.publicKey;
    },
    spend: (nonce, expiresAt) => ask<'ok' | 'replayed' | 'full'>(ctx.actor, { type: 'firewall.spend', nonce, expiresAt, now: Date.now() }),
    run: async (tool, args, paths, check) => {
      const policy = await deps.policy(check.policyDigest);
      // Files found under a checked folder (search, list) are held to the same path rules: a deny inside an allowed root wins.
      const readable = (path: string) => decide(policy, 'path_access', { path, access: 'read' }).decision === 'allow';
      return runBuiltin(tool, args, paths, { readable });
    },
    now: Date.now,
  }, req);
  ctx.actor.send({ type: 'firewall.called', ok: outcome.ok });
  const c = outcome.claims;
  const args = redactValue(req.args) as Record<string, unknown>;
  void ctx.emitOrLog('called', {
    tool: req.tool, decision: outcome.ok ? 'allow' : 'deny', args,
    ...(c && { nonce: c.nonce, planId: c.planId, step: c.step, ...(c.approvedBy !== undefined && { approvedBy: c.approvedBy }) }),
    ...(outcome.check && { rule: outcome.check.rule, policyDigest: outcome.check.policyDigest }),
    ...(outcome.ok ? { resultHash: outcome.resultHash } : { code: outcome.code, reason: (redactValue(outcome.reason) as string).slice(0, 1024) }),
  });
  if (!outcome.ok) {
    ctx.log.info({ tool: req.tool, code: outcome.code, nonce: c?.nonce }, 'tool call refused');
    throw new SecaiError(outcome.code, outcome.reason);
  }
  return { tool: req.tool, nonce: outcome.claims.nonce, planId: outcome.claims.planId, step: outcome.claims.step, rule: outcome.check.rule, resultHash: outcome.resultHash, result: outcome.result };
}

main<typeof toolFirewallMachine, typeof toolFirewallManifest>({
  manifest: toolFirewallManifest,
  machine: () => toolFirewallMachine,
  publicContext: (c) => ({ checks: c.checks, denied: c.denied, asked: c.asked, calls: c.calls, refused: c.refused }),
  ops: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req), call: (req: CallRequest) => call(ctx, req) }),
  commands: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req) }),
});
