// Policy engine process: wiring. The policy in force, its reloads and the allow tally live in machines/policy; decide() runs against the machine's policy.
import { fromCallback, fromPromise } from 'xstate';
import { NonceCache, verifyCommand } from '../../bus/envelope.js';
import { TrustedOperators } from '../../bus/operator-keys.js';
import { commandSubject } from '../../bus/subjects.js';
import { applianceKey } from '../../common/appliance-key.js';
import { argsHash as hashArgs, capKeyId } from '../../policy/capability/token.js';
import { policyMachine, summary, type LoadedPolicy, type PolicyContext } from '../../machines/policy/policy.machine.js';
import { decide, type DecisionResult } from '../../policy/decide/index.js';
import { loadPolicyFile, policyPath } from '../../policy/snapshot.js';
import { changedSections, restartNotes, sectionsOf, type PolicySections, type SectionName } from '../../policy/sections.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { secaiEnv } from '../../common/env.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { policyManifest } from './manifest.js';
import { mint, type ApprovalCheck, type MintReply, type MintRequest } from './mint.js';

type Ctx = ActorContext<typeof policyMachine>;
/** The policy in force with its sections: swapped as one object in the machine, so a section and the policy never disagree. */
type Current = LoadedPolicy & PolicySnapshot & { sections: ReturnType<typeof sectionsOf> };

const load = (ctx: Pick<Ctx, 'configDir' | 'paths'>): Current => {
  const p = loadPolicyFile(policyPath(ctx.configDir), ctx.paths.home);
  return { ...p, loadedAt: Date.now(), sections: sectionsOf(p.value as unknown as PolicySections) };
};
const current = (ctx: Ctx) => ctx.actor.getSnapshot().context.current as Current;

/** One section of the policy in force, with its digest (runtime/config-section.ts asks for it). */
const section = (ctx: Ctx, req: { name: SectionName }) => {
  const c = current(ctx);
  const sec = c.sections[req.name];
  return { name: sec.name, digest: sec.digest, value: sec.value as unknown as Record<string, unknown>, policyDigest: c.digest };
};

/** Decides against the machine's policy (or the one given) and tells the machine (allows are tallied, the rest evented). */
function decideNow(ctx: Ctx, req: { domain: string; input: unknown }, policy: PolicySnapshot = current(ctx)): DecisionResult {
  const r = decide(policy, req.domain, req.input);
  ctx.actor.send({ type: 'policy.decided', result: r as unknown as DecisionResult & Record<string, unknown> });
  return r;
}

/** Operator approvals live as long as a signed command may: the envelope replay window. */
const APPROVAL_WINDOW_MS = 60_000;

/**
 * An approval is the operator's signed `secai.cmd.agent.approve` envelope, checked as the bus checks a command
 * (subject, time, trusted key, signature, role admin) and bound to this plan step: planId, step and intentHash must
 * match, and tool and argsHash too when the operator named them. Its nonce is spent in the machine.
 */
async function checkApproval(ctx: Ctx, operators: TrustedOperators, startedAt: number, raw: unknown, req: MintRequest, hash: string): Promise<ApprovalCheck> {
  const now = Date.now();
  let args: Record<string, unknown>;
  let keyId: string;
  try {
    const v = await verifyCommand(raw, {
      subject: commandSubject('agent', 'approve'), op: 'agent.approve', roles: ['admin'], lookup: (k) => operators.lookup(k),
      // The nonce is spent below, in the machine, so that it outlives this call.
      nonces: new NonceCache(APPROVAL_WINDOW_MS), now, windowMs: APPROVAL_WINDOW_MS, notBefore: startedAt,
    });
    args = v.args;
    keyId = v.operator.keyId;
  } catch (err) {
    return { ok: false, reason: `${(err as { code?: string }).code ?? ErrorCode.INTERNAL}: ${(err as Error).message}` };
  }
  const bound: [string, unknown][] = [['planId', req.planId], ['step', req.step], ['intentHash', req.intentHash]];
  for (const [k, want] of bound) if (args[k] !== want) return { ok: false, reason: `the approval is for ${k} ${JSON.stringify(args[k])?.slice(0, 80)}, not ${JSON.stringify(want)}` };
  if (args['tool'] !== undefined && args['tool'] !== req.tool) return { ok: false, reason: `the approval is for tool ${String(args['tool']).slice(0, 64)}` };
  if (args['argsHash'] !== undefined && args['argsHash'] !== hash) return { ok: false, reason: 'the approval is for other arguments' };
  const nonce = (raw as { nonce: string; ts: number }).nonce;
  const until = (raw as { ts: number }).ts + APPROVAL_WINDOW_MS;
  if (!await ask<boolean>(ctx.actor, { type: 'policy.approval', nonce, until, now })) return { ok: false, reason: `approval ${nonce} was already used` };
  return { ok: true, keyId };
}

/**
 * A web approval, as auth recorded it for a session that proved the passphrase again: spent in the machine only
 * for this exact planId, step and intentHash (and only once). The agent can ask mint to spend one, never record one.
 */
async function spendRecorded(ctx: Ctx, req: MintRequest): Promise<ApprovalCheck> {
  const by = await ask<string | null>(ctx.actor, { type: 'policy.spend_web', planId: req.planId, step: req.step, intentHash: req.intentHash, now: Date.now() });
  return by === null ? { ok: false, reason: `no web approval is recorded for ${req.planId.slice(0, 64)} step ${req.step} with this intent (or it expired, or was used)` } : { ok: true, keyId: by };
}

/** Records a web session's approval of one plan step (auth alone may ask: ACL callers), evented for the audit chain. */
async function approveWeb(ctx: Ctx, req: { planId: string; step: number; intentHash: string; session: string }) {
  const now = Date.now();
  const approval = { planId: req.planId, step: req.step, intentHash: req.intentHash, by: `web:${req.session}`, until: now + APPROVAL_WINDOW_MS };
  const r = await ask<typeof approval>(ctx.actor, { type: 'policy.approve_web', approval, now });
  await ctx.emitOrLog('web_approved', r);
  return r;
}

/** policy.mint against one policy snapshot (a reload in between cannot mix two), evented either way. */
async function mintNow(ctx: Ctx, operators: TrustedOperators, startedAt: number, req: MintRequest): Promise<MintReply> {
  const policy = current(ctx);
  const key = ctx.actor.getSnapshot().context.capabilityKey;
  if (!key) throw new SecaiError(ErrorCode.NOT_READY, 'no capability key');
  const r = await mint({
    policy, secretKey: key.secretKey, now: Date.now,
    decide: (domain, input) => decideNow(ctx, { domain, input }, policy),
    approve: (raw, q, hash) => checkApproval(ctx, operators, startedAt, raw, q, hash),
    spendRecorded: (q) => spendRecorded(ctx, q),
  }, req);
  const evidence = { tool: req.tool, planId: req.planId, step: req.step, intentHash: req.intentHash, argsHash: hashArgs(req.args), policyDigest: r.policyDigest };
  if (r.token) {
    void ctx.emitOrLog('minted', { ...evidence, nonce: r.nonce, expiresAt: r.expiresAt, paths: r.paths ?? [], ...(r.approvedBy !== undefined && { approvedBy: r.approvedBy }) });
  } else {
    void ctx.emitOrLog('mint_refused', { ...evidence, decision: r.decision, rule: r.rule, reason: r.reason ?? r.decision });
    ctx.log.info({ tool: req.tool, planId: req.planId, step: req.step, decision: r.decision, rule: r.rule }, 'capability not minted');
  }
  return r;
}

const show = (ctx: Ctx) => {
  const c = current(ctx);
  return { digest: c.digest, path: c.path, loadedAt: c.loadedAt, policy: c.value as unknown as Record<string, unknown> };
};

main<typeof policyMachine, typeof policyManifest>({
  manifest: policyManifest,
  machine: (ctx) => policyMachine.provide({
    actors: {
      loadPolicy: fromPromise(async ({ input }) => {
        try {
          const loaded = load(ctx);
          // The policy in force until this effect is done (the machine swaps it then).
          const was = input.current as Current;
          const changed = changedSections(was.sections, loaded.sections);
          const restart = restartNotes(was.value as unknown as PolicySections, loaded.value as unknown as PolicySections, changed);
          return { result: { ok: true as const, digest: loaded.digest, previous: input.previous, changed, restart }, loaded };
        } catch (err) {
          return { result: { ok: false as const, error: (err as Error).message, kept: input.previous } };
        }
      }),
      ticker: fromCallback(({ sendBack }) => {
        const t = setInterval(() => sendBack({ type: 'policy.flush', now: Date.now() }), secaiEnv().policyAllowFlushMs);
        t.unref();
        return () => clearInterval(t);
      }),
    },
    actions: {
      reportReload: ({ context }: { context: PolicyContext }) => {
        const r = context.lastReload;
        if (!r) return;
        const path = context.current.path;
        // The event names the changed sections; their owners refetch them from this actor (the event carries no values).
        if (r.ok) void ctx.emitOrLog('reloaded', { digest: r.digest, previous: r.previous, path, changed: r.changed, restart: r.restart });
        else void ctx.emitOrLog('reload_failed', { error: r.error.slice(0, 2048), kept: r.kept, path });
      },
      reportDecision: ({ event }) => {
        if (event.type !== 'policy.decided') return;
        const r = event.result;
        // The reply does not wait for the audit ack (latency); a lost event is logged, never silent.
        void ctx.emitOrLog('decided', r);
        ctx.log.info({ domain: r.domain, rule: r.rule, decision: r.decision, inputHash: r['inputHash'] }, 'policy decision');
      },
      reportAllows: ({ context, event }) => {
        const s = event.type === 'policy.flush' ? summary(context, event.now) : undefined;
        if (s) void ctx.emitOrLog('allows', s);
      },
    },
  }),
  // A bad policy at start stops the actor: with no decision point every request is refused (fail closed).
  // The capability key is made at first start (0600, atomic, linked into place: appliance-key.ts) and never leaves this process.
  input: async (ctx) => ({ current: load(ctx), capabilityKey: await applianceKey(ctx.paths.capabilityKey) }),
  publicContext: (c) => ({ digest: c.digest, reloads: c.reloads, lastReload: c.lastReload }),
  ops: (ctx) => {
    const operators = new TrustedOperators(ctx.paths.trustedOperators);
    // Approvals signed before this start are refused: the spent approvals did not survive the restart.
    const startedAt = Date.now();
    return {
      decide: (req: { domain: string; input: unknown }) => decideNow(ctx, req),
      show: () => show(ctx),
      section: (req: { name: SectionName }) => section(ctx, req),
      mint: (req: MintRequest) => mintNow(ctx, operators, startedAt, req),
      approve_web: (req: { planId: string; step: number; intentHash: string; session: string }) => approveWeb(ctx, req),
      capability_key: () => {
        const key = ctx.actor.getSnapshot().context.capabilityKey;
        if (!key) throw new SecaiError(ErrorCode.NOT_READY, 'no capability key');
        return { keyId: capKeyId(key.publicKey), publicKey: key.publicKey };
      },
    };
  },
  commands: (ctx) => ({
    decide: (req: { domain: string; input: unknown }) => decideNow(ctx, req),
    show: () => show(ctx),
    reload: async () => {
      const r = await ask<PolicyContext['lastReload']>(ctx.actor, { type: 'policy.reload' }, 30_000);
      if (!r || !r.ok) throw new SecaiError(ErrorCode.CONFIG_INVALID, `policy not reloaded, ${r?.ok === false ? r.kept : current(ctx).digest} stays in force: ${r && !r.ok ? r.error : 'no result'}`);
      return { digest: r.digest, previous: r.previous, changed: r.digest !== r.previous, sections: r.changed as SectionName[], restart: r.restart as { section: SectionName; keys: string[]; reason: string }[] };
    },
  }),
  stop: async (ctx) => {
    const s = await ask<ReturnType<typeof summary> | null>(ctx.actor, { type: 'policy.flush', now: Date.now() }, 5000);
    if (s) await ctx.emitOrLog('allows', s);
  },
});
