// Tool firewall process: checks tool calls against the policy engine, on real paths, under rate limits.
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { redactValue } from '../../policy/pii/redact.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { checkTool, type ToolCheckRequest } from './check.js';
import { toolFirewallManifest } from './manifest.js';
import { readMountPoints } from './mounts.js';
import { RateLimiter } from './token-bucket.js';

let cached: PolicySnapshot | undefined;
const limiter = new RateLimiter();

async function run(ctx: ActorContext, req: ToolCheckRequest) {
  const r = await checkTool({
    decide: (domain, input) => ctx.bus.request<DecisionResult>('policy', 'decide', { domain, input }),
    policy: async (digest) => {
      if (cached?.digest !== digest) {
        const s = await ctx.bus.request<{ digest: string; policy: PolicySnapshot['value'] }>('policy', 'show');
        cached = { digest: s.digest, value: s.policy };
      }
      return cached;
    },
    limiter,
    mounts: () => readMountPoints(),
  }, req);
  ctx.actor.send({ type: 'firewall.checked', decision: r.decision });
  if (r.decision !== 'allow') {
    const args = redactValue(req.args) as Record<string, unknown>;
    ctx.log.info({ tool: req.tool, decision: r.decision, rule: r.rule, args }, 'tool call not allowed');
    void ctx.emit('checked', {
      tool: req.tool, decision: r.decision, rule: r.rule, policyDigest: r.policyDigest, inputHash: r.inputHash, args,
      ...(r.reason !== undefined && { reason: (redactValue(r.reason) as string).slice(0, 1024) }),
    }).catch((err: unknown) => ctx.log.error({ err }, 'checked event not acknowledged'));
  }
  return r;
}

main({
  manifest: toolFirewallManifest,
  machine: () => toolFirewallMachine,
  publicContext: (c) => ({ checks: c.checks, denied: c.denied, asked: c.asked }),
  ops: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req) }),
  commands: (ctx) => ({ check: (req: ToolCheckRequest) => run(ctx, req) }),
});
