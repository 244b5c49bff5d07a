// Tool firewall process: wiring. The policy it checks against, the rate buckets and the verdict counts live in machines/tool-firewall.
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { redactValue } from '../../policy/pii/redact.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
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

main<typeof toolFirewallMachine, typeof toolFirewallManifest>({
  manifest: toolFirewallManifest,
  machine: () => toolFirewallMachine,
  publicContext: (c) => ({ checks: c.checks, denied: c.denied, asked: c.asked }),
  ops: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req) }),
  commands: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req) }),
});
