// Agent process: wiring. Every task is an agent-plan machine spawned by machines/agent; its tokens are held there too.
import { randomBytes } from 'node:crypto';
import type { CommandEnvelope } from '../../bus/envelope.js';
import type { CallContext } from '../../bus/service.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { agentPlanMachine, type AgentEvent, type AgentInput } from '../../machines/agent-plan/agent-plan.machine.js';
import { agentMachine, liveTasks, MAX_LIVE_TASKS, type AgentActorContext, type TaskRecord } from '../../machines/agent/agent.machine.js';
import { argsHash } from '../../policy/capability/token.js';
import { main, type ActorContext, type ActorDefinition } from '../../runtime/host.js';
import { budgetsFor, loadAgentConfig, modeOf, toolsFor, type LoadedAgentConfig } from './config.js';
import { clearFrozen, frozenPath, readFrozen, writeFrozen } from './frozen-file.js';
import { ensureWorkspace } from './workspace.js';
import { approveMcp, effectActors, isMcp, mintStep, RECORDED, type EffectDeps } from './effects.js';
import { agentManifest, type PlanView } from './manifest.js';
import { awaitingOf, changeOf, phaseOf, planIntentHash, stepIntentHash, taskState, viewOf, type ChildSnapshot } from './plan-view.js';

type Machine = typeof agentMachine;
type Ctx = ActorContext<Machine>;
type Base = Omit<Ctx, 'actor' | 'sendAndWait'>;

/** What main.ts wires once: the config read at start, and the running machine for the effects to reach. */
interface Wiring { config: LoadedAgentConfig | undefined; deps: EffectDeps | undefined; actor: Ctx['actor'] | undefined; ticker: NodeJS.Timeout | undefined }

const whoOf = (call: CallContext) => call.operator?.keyId ?? 'unknown';

function childOf(ctx: Ctx, planId: string): { snap: ChildSnapshot; rec: TaskRecord } {
  const s = ctx.actor.getSnapshot();
  const rec = s.context.tasks.find((t) => t.id === planId);
  const ref = s.children[planId] as { getSnapshot(): ChildSnapshot } | undefined;
  if (!rec || !ref) throw new SecaiError(ErrorCode.PLAN_NOT_FOUND, `no agent task ${planId}`);
  return { snap: ref.getSnapshot(), rec };
}

function views(ctx: Ctx, planId?: string): PlanView[] {
  if (planId !== undefined) {
    const { snap, rec } = childOf(ctx, planId);
    return [viewOf(snap, rec)];
  }
  const s = ctx.actor.getSnapshot();
  const out: PlanView[] = [];
  for (const rec of s.context.tasks) {
    const ref = s.children[rec.id] as { getSnapshot(): ChildSnapshot } | undefined;
    if (ref) out.push(viewOf(ref.getSnapshot(), rec));
  }
  return out;
}

function status(ctx: Ctx, planId?: string) {
  const c = ctx.actor.getSnapshot().context;
  return { enabled: c.config.enabled, plans: views(ctx, planId), lastFreeze: c.lastFreeze, frozen: c.frozen };
}

function list(ctx: Ctx) {
  const c = ctx.actor.getSnapshot().context;
  return { enabled: c.config.enabled, plans: views(ctx).map((v) => ({ planId: v.planId, task: v.task, mode: v.mode, state: v.state, awaiting: v.awaiting, createdAt: v.createdAt })) };
}

function run(ctx: Ctx, w: Wiring, req: { task: string; mode?: string; tools?: string[]; model?: string }, by: string) {
  const cfg = w.config!.value;
  // Fail closed: a disabled agent starts nothing, whoever signs.
  if (!cfg.enabled) throw new SecaiError(ErrorCode.AGENT_DISABLED, 'the agent is disabled (agent.yaml enabled: false)');
  const frozen = ctx.actor.getSnapshot().context.frozen;
  if (frozen) throw new SecaiError(ErrorCode.AGENT_FROZEN, `incident ${frozen.incidentId} froze the agent (${frozen.reason}): securectl agent unfreeze lifts it`);
  const mode = modeOf(cfg, req.mode);
  const tools = toolsFor(cfg, req.tools);
  if (liveTasks(ctx.actor.getSnapshot().context).length >= MAX_LIVE_TASKS) throw new SecaiError(ErrorCode.AGENT_BUSY, `${MAX_LIVE_TASKS} tasks are running already`);
  const id = `plan-${randomBytes(9).toString('base64url')}`;
  const input: AgentInput = {
    id, task: req.task, mode, tools, requirePlanApproval: cfg.require_plan_approval, approvalTimeoutMs: cfg.approval_timeout_seconds * 1000,
    budgets: budgetsFor(cfg, mode), now: Date.now(),
  };
  ctx.actor.send({ type: 'agent.create', input, by, model: req.model ?? null });
  if (!ctx.actor.getSnapshot().children[id]) throw new SecaiError(ErrorCode.AGENT_BUSY, 'the task was not started');
  ctx.log.info({ planId: id, mode, tools, by }, 'agent task started');
  return { planId: id };
}

function route(ctx: Ctx, planId: string, event: AgentEvent) {
  ctx.actor.send({ type: 'agent.route', id: planId, event });
  const { snap, rec } = childOf(ctx, planId);
  return { planId, state: taskState(snap, rec), phase: snap.status === 'active' ? phaseOf(snap.value) : null, step: snap.context.step };
}

/** The approval or denial must name what the task waits for now: the plan (-1) or that step. */
function waiting(ctx: Ctx, planId: string, step: number): ChildSnapshot {
  const { snap } = childOf(ctx, planId);
  const awaiting = awaitingOf(snap);
  if (awaiting !== step) {
    const what = awaiting === null ? 'no approval' : awaiting === -1 ? 'the plan\'s approval (step -1)' : `step ${awaiting}`;
    throw new SecaiError(ErrorCode.APPROVAL_MISMATCH, `${planId} waits for ${what}, not ${step === -1 ? 'the plan' : `step ${step}`}`);
  }
  return snap;
}

/**
 * The operator's approval. The bus verified the envelope (signature, trusted admin key, time, nonce); it must name
 * the plan step waiting and its intent hash. For a built-in tool the same envelope goes to policy.mint, which checks
 * it again and mints the step's token only then: the agent never holds anything that could approve.
 */
async function approve(ctx: Ctx, deps: EffectDeps, req: { planId: string; step: number; intentHash: string; tool?: string; argsHash?: string }, call: CallContext) {
  const snap = waiting(ctx, req.planId, req.step);
  const c = snap.context;
  const mismatch = (what: string) => new SecaiError(ErrorCode.APPROVAL_MISMATCH, `the approval names another ${what} than ${req.planId} ${req.step === -1 ? 'plan' : `step ${req.step}`}`);
  if (req.step === -1) {
    if (!c.plan || req.intentHash !== planIntentHash(c.id, c.task, c.plan)) throw mismatch('intent hash');
    return route(ctx, req.planId, { type: 'agent.approve', by: whoOf(call) });
  }
  const step = c.plan?.[req.step];
  if (!step || req.intentHash !== stepIntentHash(c.id, req.step, step)) throw mismatch('intent hash');
  if (req.tool !== undefined && req.tool !== step.tool) throw mismatch('tool');
  if (req.argsHash !== undefined && req.argsHash !== argsHash(step.args)) throw mismatch('arguments');
  let token: { nonce: string };
  if (isMcp(step.tool)) token = approveMcp();
  else {
    const d = await mintStep(deps, req.planId, req.step, step, call.envelope as CommandEnvelope);
    if (d.decision !== 'allow' || !d.token) throw new SecaiError(ErrorCode.POLICY_DENIED, `policy minted no token for ${req.planId} step ${req.step}: ${d.rule}${d.reason ? `: ${d.reason}` : ''}`);
    token = d.token;
  }
  return route(ctx, req.planId, { type: 'agent.approve', by: whoOf(call), token });
}

function deny(ctx: Ctx, req: { planId: string; step: number; note?: string }, call: CallContext) {
  waiting(ctx, req.planId, req.step);
  return route(ctx, req.planId, { type: 'agent.deny', by: whoOf(call), ...(req.note !== undefined && { note: req.note }) });
}

function cancel(ctx: Ctx, req: { planId: string }, call: CallContext) {
  const { snap } = childOf(ctx, req.planId);
  if (snap.status !== 'active') throw new SecaiError(ErrorCode.INVALID_STATE, `${req.planId} has already ended`);
  return route(ctx, req.planId, { type: 'agent.cancel', by: whoOf(call) });
}

/** Who did it from the web UI: the session's handle (auth or the gateway checked the session). */
const webBy = (session: string) => `web:${session}`;

/**
 * A web session's approval (auth.agent_act: the session and the passphrase again). For a step, auth first recorded it
 * with policy.approve_web; policy.mint spends that record for this exact step and intent, or mints nothing. The agent
 * cannot record one (ACL): asking mint to spend what was never recorded gets no token.
 */
async function approveWeb(ctx: Ctx, deps: EffectDeps, req: { planId: string; step: number; intentHash: string; session: string }) {
  const snap = waiting(ctx, req.planId, req.step);
  const c = snap.context;
  const by = webBy(req.session);
  const mismatch = () => new SecaiError(ErrorCode.APPROVAL_MISMATCH, `the approval names another intent hash than ${req.planId} ${req.step === -1 ? 'plan' : `step ${req.step}`}`);
  if (req.step === -1) {
    if (!c.plan || req.intentHash !== planIntentHash(c.id, c.task, c.plan)) throw mismatch();
    return route(ctx, req.planId, { type: 'agent.approve', by });
  }
  const step = c.plan?.[req.step];
  if (!step || req.intentHash !== stepIntentHash(c.id, req.step, step)) throw mismatch();
  let token: { nonce: string };
  if (isMcp(step.tool)) token = approveMcp();
  else {
    const d = await mintStep(deps, req.planId, req.step, step, RECORDED);
    if (d.decision !== 'allow' || !d.token) throw new SecaiError(ErrorCode.POLICY_DENIED, `policy minted no token for ${req.planId} step ${req.step}: ${d.rule}${d.reason ? `: ${d.reason}` : ''}`);
    token = d.token;
  }
  return route(ctx, req.planId, { type: 'agent.approve', by, token });
}

/** A web session's refusal (auth.agent_act): the intent hash must be the one the page showed. */
function denyWeb(ctx: Ctx, req: { planId: string; step: number; intentHash: string; session: string }) {
  const snap = waiting(ctx, req.planId, req.step);
  const c = snap.context;
  const shown = req.step === -1 ? (c.plan ? planIntentHash(c.id, c.task, c.plan) : null) : (c.plan?.[req.step] ? stepIntentHash(c.id, req.step, c.plan[req.step]!) : null);
  if (req.intentHash !== shown) throw new SecaiError(ErrorCode.APPROVAL_MISMATCH, `the denial names another intent hash than ${req.planId} ${req.step === -1 ? 'plan' : `step ${req.step}`}`);
  return route(ctx, req.planId, { type: 'agent.deny', by: webBy(req.session) });
}

function cancelWeb(ctx: Ctx, req: { planId: string; session: string }) {
  const { snap } = childOf(ctx, req.planId);
  if (snap.status !== 'active') throw new SecaiError(ErrorCode.INVALID_STATE, `${req.planId} has already ended`);
  return route(ctx, req.planId, { type: 'agent.cancel', by: webBy(req.session) });
}

/** Incident containment: every live task ends frozen; the fact is evented (the tasks' own plan_changed follow). */
async function freeze(ctx: Ctx, req: { incidentId: string; reason: string }) {
  const now = Date.now();
  // On disk first: a crash right after still leaves the agent frozen. A second freeze keeps the first record.
  if (!ctx.actor.getSnapshot().context.frozen) writeFrozen(frozenPath(ctx.paths.home), { incidentId: req.incidentId, reason: req.reason.slice(0, 512), at: now });
  ctx.actor.send({ type: 'agent.freeze_all', incidentId: req.incidentId, reason: req.reason, now });
  const frozen = ctx.actor.getSnapshot().context.lastFreeze?.frozen ?? 0;
  ctx.log.warn({ incidentId: req.incidentId, frozen }, 'agent tasks frozen by an incident');
  await ctx.emitOrLog('frozen', { incidentId: req.incidentId, reason: req.reason, frozen });
  return { frozen };
}

/** The signed operator unfreeze: the record goes first, so a crash in between cannot bring a freeze back half-lifted. */
async function unfreeze(ctx: Ctx, call: CallContext) {
  const was = ctx.actor.getSnapshot().context.frozen;
  clearFrozen(frozenPath(ctx.paths.home));
  ctx.actor.send({ type: 'agent.unfreeze' });
  const by = whoOf(call);
  if (was) {
    ctx.log.warn({ incidentId: was.incidentId, by }, 'agent unfrozen by an operator');
    await ctx.emit('unfrozen', { incidentId: was.incidentId, by });
  }
  return { was };
}

function provided(base: Base, w: Wiring) {
  const deps: EffectDeps = {
    bus: base.bus, paths: base.paths, config: w.config!.value,
    root: () => {
      if (!w.actor) throw new SecaiError(ErrorCode.NOT_READY, 'the agent is starting');
      return w.actor as unknown as ReturnType<EffectDeps['root']>;
    },
  };
  const machine = agentMachine.provide({
    actors: {
      plan: agentPlanMachine.provide({
        actors: effectActors(deps),
        actions: { announce: ({ context }, params: { kind: string }) => base.log.info({ planId: context.id, kind: params.kind, reason: context.reason }, `agent task ${params.kind}`) },
      }),
    },
  });
  return { machine, deps };
}

function agentActor(): ActorDefinition<Machine, typeof agentManifest> {
  const w: Wiring = { config: undefined, deps: undefined, actor: undefined, ticker: undefined };
  return {
    manifest: agentManifest,
    machine: (base) => {
      // agent.yaml is read once, at start: a missing or invalid file stops the actor (a typo must not mean "default").
      w.config = loadAgentConfig(base.configDir);
      const p = provided(base, w);
      w.deps = p.deps;
      return p.machine as unknown as Machine;
    },
    // A freeze persisted before a crash or a restart: the machine starts frozen, before any command.
    input: (base) => ({ config: { enabled: w.config!.value.enabled, digest: w.config!.digest }, frozen: readFrozen(frozenPath(base.paths.home)) }),
    publicContext: (c: AgentActorContext) => ({ enabled: c.config.enabled, configDigest: c.config.digest, tasks: c.tasks.length, live: liveTasks(c).length, done: c.done, lastFreeze: c.lastFreeze, frozen: c.frozen }),
    childMachines: { plan: agentPlanMachine },
    publishChildren: ({ value, status: st, context }) => {
      const c = context as ChildSnapshot['context'];
      return { task: c.task.slice(0, 256), mode: c.mode, step: c.step, steps: c.plan?.length ?? null, used: c.used, reason: c.reason, state: st === 'error' ? 'failed' : taskState({ value, status: st, context: c }, undefined) };
    },
    ops: (ctx) => {
      w.actor = ctx.actor;
      return {
        status: (req: { planId?: string }) => status(ctx, req.planId),
        list: () => list(ctx),
        freeze: (req: { incidentId: string; reason: string }) => freeze(ctx, req),
        approve_web: (req) => approveWeb(ctx, w.deps!, req),
        deny_web: (req) => denyWeb(ctx, req),
        run_web: (req) => run(ctx, w, { task: req.task, ...(req.mode !== undefined && { mode: req.mode }) }, webBy(req.session)),
        cancel_web: (req) => cancelWeb(ctx, req),
      };
    },
    commands: (ctx) => ({
      run: (req, call) => run(ctx, w, req, whoOf(call)),
      status: (req: { planId?: string }) => status(ctx, req.planId),
      approve: (req, call) => approve(ctx, w.deps!, req, call),
      deny: (req, call) => deny(ctx, req, call),
      cancel: (req, call) => cancel(ctx, req, call),
      unfreeze: (_req, call) => unfreeze(ctx, call),
    }),
    start: (ctx) => {
      ensureWorkspace(ctx.paths.workspace, ctx.log);
      // plan_changed: each task's change of state, phase, step or evidence (a tick that only moves the clock is not one).
      const last = new Map<string, string>();
      ctx.actor.system.inspect((ev) => {
        if (ev.type !== '@xstate.snapshot') return;
        const id = (ev.actorRef as unknown as { id: string }).id;
        const s = ctx.actor.getSnapshot();
        const rec = s.context.tasks.find((t) => t.id === id);
        if (!rec || s.children[id] !== ev.actorRef) return;
        const view = viewOf(ev.snapshot as unknown as ChildSnapshot, rec);
        const change = changeOf(view);
        const key = JSON.stringify({ ...change, used: { ...change.used, wall_seconds: 0 } });
        if (last.get(id) === key) return;
        last.set(id, key);
        if (last.size > 256) last.delete(last.keys().next().value!);
        void ctx.emitOrLog('plan_changed', change);
      });
      // The wall budget needs the time: the machines read no clock, so the actor tells them once a second.
      w.ticker = setInterval(() => ctx.actor.send({ type: 'agent.tick', now: Date.now() }), 1000).unref();
    },
    stop: () => clearInterval(w.ticker),
  };
}

main<Machine, typeof agentManifest>(agentActor());
