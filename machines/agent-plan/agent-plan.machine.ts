// One agent task's whole life: planning → pending_approval → running (one pass per step) → completed | failed | cancelled | frozen.
import { assign, fromPromise, setup, type AnyEventObject, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import type { PlanStep } from '../../contracts/agent-plan.js';
import { notProvided } from '../not-provided.js';

export type { PlanStep };

/** How far a task may reach: `offline_only` never egresses, `sensitive` asks the operator for every step. */
export const AGENT_MODES = ['offline_only', 'standard', 'online_assisted', 'sensitive'] as const;
export type AgentMode = (typeof AGENT_MODES)[number];

/** The mode table: whether a mode may use an egress tool, and whether it forces approval of the plan and of every step. */
export const MODE_RULES: Readonly<Record<AgentMode, { egress: boolean; approveEverything: boolean }>> = {
  offline_only: { egress: false, approveEverything: false },
  standard: { egress: true, approveEverything: false },
  online_assisted: { egress: true, approveEverything: false },
  sensitive: { egress: true, approveEverything: true },
};

/** Tools that reach off the device whatever policy says; the task's input may name more (policy's egress tools). */
export const EGRESS_TOOLS = ['web.search', 'web.fetch', 'http.request', 'airlock.download'] as const;

/** Hard limits from policy; a task that passes one fails with `budget.<name>`. */
export interface AgentBudgets { steps: number; tokens: number; wall_seconds: number; files_read: number; files_written: number; bytes_out: number }
export type BudgetName = keyof AgentBudgets;
export const BUDGET_NAMES = ['steps', 'tokens', 'wall_seconds', 'files_read', 'files_written', 'bytes_out'] as const satisfies readonly BudgetName[];

export type Decision = 'allow' | 'ask' | 'deny';
/** The policy mint op's answer for one step: `token` is the one-use capability the call must present. */
export interface DecisionOutput { decision: Decision; rule: string; token?: { nonce: string } }
/** What a tool call came to: a summary and hash of its result and what it consumed. */
export interface CallOutput { summary: string; resultHash: string; bytesOut: number; filesRead: number; filesWritten: number; tokens?: number }
/** What the planner is asked: the task, its mode and tools, and its budgets (the plan's steps and tokens must fit them). */
export interface PlannerInput { id: string; task: string; mode: AgentMode; tools: string[]; budgets: AgentBudgets }
/** The planner's answer: the plan (checked here again: the planner runs a model) and the tokens it spent. */
export interface PlannerOutput { steps: PlanStep[]; tokens: number }

/** What each step came to: the evidence the audit chain keeps. */
export interface StepEvidence {
  tool: string;
  decision: Decision | null;
  rule: string | null;
  nonce: string | null;
  approvedBy: string | null;
  resultHash: string | null;
  summary: string | null;
  error: string | null;
}

export type AgentState = 'planning' | 'pending_approval' | 'running' | 'completed' | 'failed' | 'cancelled' | 'frozen';

export interface AgentInput {
  id: string;
  task: string;
  mode: AgentMode;
  /** Tools the planner may use (policy's tool list for this mode). */
  tools: readonly string[];
  /** Further tools policy marks as egress. */
  egressTools?: readonly string[];
  /** Policy requires the operator to approve the whole plan before any step runs (always so in `sensitive`). */
  requirePlanApproval: boolean;
  /** How long an approval may wait; then the task fails with `approval.timeout`. */
  approvalTimeoutMs: number;
  budgets: AgentBudgets;
  /** When the task started (ms since epoch, from the actor: the machine reads no clock). */
  now: number;
}

export interface AgentContext {
  id: string;
  task: string;
  mode: AgentMode;
  tools: string[];
  egressTools: string[];
  requirePlanApproval: boolean;
  approvalTimeoutMs: number;
  budgets: AgentBudgets;
  used: AgentBudgets;
  startedAt: number;
  now: number;
  plan: PlanStep[] | null;
  planApprovedBy: string | null;
  /** The step under way (or next): an index into plan and evidence. */
  step: number;
  evidence: StepEvidence[];
  /** The current step's token, once minted (with the decision or the approval); never reused for the next step. */
  token: { nonce: string } | null;
  /** Why the task ended other than completed: `budget.<name>`, `mode.offline_only`, `policy.deny`, `plan.malformed` … */
  reason: string | null;
  detail: string | null;
}

export type AgentEvent =
  | { type: 'agent.approve'; by: string; token?: { nonce: string } }
  | { type: 'agent.deny'; by: string; note?: string }
  | { type: 'agent.cancel'; by: string }
  | { type: 'agent.freeze'; incidentId: string }
  | { type: 'agent.tick'; now: number };

export interface AgentOutput { id: string; state: 'completed' | 'failed' | 'cancelled' | 'frozen'; reason: string | null; evidence: StepEvidence[]; used: AgentBudgets }

const MAX_STEPS = 64;
const MAX_TEXT = 1024;
const clip = (s: unknown): string => String(s).slice(0, MAX_TEXT);
const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const zero = (): AgentBudgets => ({ steps: 0, tokens: 0, wall_seconds: 0, files_read: 0, files_written: 0, bytes_out: 0 });

/** The planner's output, checked: a model wrote it, so anything off the shape (or naming a tool not offered) is refused. */
export function validPlan(out: unknown, tools: readonly string[]): out is PlannerOutput {
  if (!out || typeof out !== 'object') return false;
  const o = out as { steps?: unknown; tokens?: unknown };
  if (!count(o.tokens) || !Array.isArray(o.steps) || o.steps.length > MAX_STEPS) return false;
  return o.steps.every((s: unknown) => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) return false;
    const { tool, args, why, ...rest } = s as Record<string, unknown>;
    if (Object.keys(rest).length || !isText(tool, 128) || !tools.includes(tool) || !isText(why, 4096)) return false;
    if (!args || typeof args !== 'object' || Array.isArray(args)) return false;
    return Object.values(args).every((v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || isText(v, 4096));
  });
}

const validDecision = (out: unknown): out is DecisionOutput => {
  const o = out as DecisionOutput | undefined;
  return !!o && (o.decision === 'allow' || o.decision === 'ask' || o.decision === 'deny') && isText(o.rule, 256)
    && (o.token === undefined || (!!o.token && isText(o.token.nonce, 256) && o.token.nonce.length > 0));
};

const validCall = (out: unknown): out is CallOutput => {
  const o = out as CallOutput | undefined;
  return !!o && isText(o.summary, 64 * 1024) && isText(o.resultHash, 128) && count(o.bytesOut) && count(o.filesRead) && count(o.filesWritten) && (o.tokens === undefined || count(o.tokens));
};

/** The first budget `used` has passed, if any (wall seconds included: `now` is the last time an event told). */
export function overrun(c: Pick<AgentContext, 'budgets' | 'used'>): BudgetName | undefined {
  return BUDGET_NAMES.find((k) => c.used[k] > c.budgets[k]);
}

const current = (c: AgentContext): PlanStep => c.plan![c.step]!;
const isEgress = (c: AgentContext, tool: string): boolean => (EGRESS_TOOLS as readonly string[]).includes(tool) || c.egressTools.includes(tool);
const setEvidence = (c: AgentContext, patch: Partial<StepEvidence>): StepEvidence[] => c.evidence.map((e, i) => (i === c.step ? { ...e, ...patch } : e));
const doneOutput = <T>(e: unknown) => (e as DoneActorEvent<T>).output;
const errorText = (e: unknown): string => {
  const err = (e as ErrorActorEvent).error as { code?: string; message?: string } | undefined;
  return clip(`${err?.code ?? 'error'}: ${err?.message ?? String(err)}`);
};
/** Ends the task's record with why: the reason (a stable name) and a clipped detail. */
const fail = (reason: string, detail?: (a: { context: AgentContext; event: unknown }) => string) =>
  assign<AgentContext, AnyEventObject, undefined, AgentEvent, never>(({ context, event }) => ({ reason, detail: detail ? clip(detail({ context, event })) : null }));

export function initialContext(input: AgentInput): AgentContext {
  return {
    id: input.id, task: input.task, mode: input.mode, tools: [...input.tools], egressTools: [...(input.egressTools ?? [])],
    requirePlanApproval: input.requirePlanApproval || MODE_RULES[input.mode].approveEverything,
    approvalTimeoutMs: input.approvalTimeoutMs, budgets: { ...input.budgets }, used: zero(), startedAt: input.now, now: input.now,
    plan: null, planApprovedBy: null, step: 0, evidence: [], token: null, reason: null, detail: null,
  };
}

/**
 * What every state that is not final answers (final states answer nothing: a frozen or ended task never moves again):
 * the operator may cancel, incident containment freezes, and time passes (the wall budget).
 */
const LIVE = {
  'agent.cancel': { target: '#agent-plan.cancelled', actions: ['cancel', { type: 'announce', params: { kind: 'cancelled' } }] },
  'agent.freeze': { target: '#agent-plan.frozen', actions: ['freeze', { type: 'announce', params: { kind: 'frozen' } }] },
  'agent.tick': [{ guard: 'pastWall', target: '#agent-plan.failed', actions: 'wallPassed' }, { guard: 'validTick', actions: 'tick' }],
} as const;

export const agentPlanMachine = setup({
  types: {} as { context: AgentContext; input: AgentInput; events: AgentEvent; output: AgentOutput },
  actors: {
    /** Asks the planner model for a plan under the plan grammar (contracts/agent-plan.ts) and parses it. */
    planner: fromPromise<PlannerOutput, PlannerInput>(notProvided('planner')),
    /** Asks the policy engine to decide one step and, unless it denies, mint its token. */
    decider: fromPromise<DecisionOutput, { id: string; index: number; step: PlanStep; mode: AgentMode }>(notProvided('decider')),
    /** Calls the tool through the tool firewall, presenting the token; `remaining` is what the budgets still allow. */
    caller: fromPromise<CallOutput, { id: string; index: number; step: PlanStep; token: { nonce: string }; remaining: AgentBudgets }>(notProvided('caller')),
  },
  actions: {
    /** A fact the actor publishes (secai.evt.agent.<kind>) and the audit chain keeps. */
    announce: notProvided('announce') as (_: unknown, _p: { kind: string }) => void,
    cancel: assign({ reason: 'cancelled', detail: ({ event }) => clip(`by ${(event as { by?: unknown }).by}`) }),
    freeze: assign({ reason: 'frozen', detail: ({ event }) => clip(`incident ${(event as { incidentId?: unknown }).incidentId}`) }),
    tick: assign(({ context, event }) => {
      const now = Math.max(context.now, (event as { now: number }).now);
      return { now, used: { ...context.used, wall_seconds: Math.max(0, Math.floor((now - context.startedAt) / 1000)) } };
    }),
    wallPassed: assign(({ context, event }) => {
      const now = (event as { now: number }).now;
      return { now, used: { ...context.used, wall_seconds: Math.ceil((now - context.startedAt) / 1000) }, reason: 'budget.wall_seconds', detail: null };
    }),
    recordPlan: assign({ plan: ({ event }) => doneOutput<PlannerOutput>(event).steps.map((s) => ({ tool: s.tool, args: { ...s.args }, why: s.why })) }),
    countPlannerTokens: assign({ used: ({ context, event }) => ({ ...context.used, tokens: context.used.tokens + doneOutput<PlannerOutput>(event).tokens }) }),
    startStep: assign(({ context }) => ({
      used: { ...context.used, steps: context.used.steps + 1 }, token: null,
      evidence: [...context.evidence, { tool: current(context).tool, decision: null, rule: null, nonce: null, approvedBy: null, resultHash: null, summary: null, error: null }],
    })),
    recordDecision: assign(({ context, event }) => {
      const d = doneOutput<DecisionOutput>(event);
      return { token: d.token ? { nonce: d.token.nonce } : null, evidence: setEvidence(context, { decision: d.decision, rule: d.rule, nonce: d.token?.nonce ?? null }) };
    }),
    recordResult: assign(({ context, event }) => {
      const r = doneOutput<CallOutput>(event);
      return {
        token: null,
        evidence: setEvidence(context, { resultHash: r.resultHash, summary: clip(r.summary) }),
        used: {
          ...context.used, tokens: context.used.tokens + (r.tokens ?? 0), files_read: context.used.files_read + r.filesRead,
          files_written: context.used.files_written + r.filesWritten, bytes_out: context.used.bytes_out + r.bytesOut,
        },
      };
    }),
    /** The step that ended the task carries why (a step the mode refused before policy was asked gets its line too). */
    stepFailedHere: assign(({ context }) => {
      const evidence = context.evidence.length > context.step ? context.evidence
        : [...context.evidence, { tool: current(context).tool, decision: null, rule: null, nonce: null, approvedBy: null, resultHash: null, summary: null, error: null }];
      return { evidence: evidence.map((e, i) => (i === context.step ? { ...e, error: clip(context.detail ? `${context.reason}: ${context.detail}` : context.reason) } : e)) };
    }),
  },
  delays: {
    approvalTimeout: ({ context }) => context.approvalTimeoutMs,
  },
  guards: {
    malformedPlan: ({ context, event }) => !validPlan(doneOutput(event), context.tools),
    planOverSteps: ({ context, event }) => doneOutput<PlannerOutput>(event).steps.length > context.budgets.steps,
    planOverTokens: ({ context, event }) => context.used.tokens + doneOutput<PlannerOutput>(event).tokens > context.budgets.tokens,
    emptyPlan: ({ event }) => doneOutput<PlannerOutput>(event).steps.length === 0,
    planNeedsApproval: ({ context }) => context.requirePlanApproval,
    allStepsDone: ({ context }) => context.step >= (context.plan?.length ?? 0),
    offlineEgress: ({ context }) => !MODE_RULES[context.mode].egress && isEgress(context, current(context).tool),
    overBudget: ({ context }) => overrun(context) !== undefined,
    malformedDecision: ({ event }) => !validDecision(doneOutput(event)),
    denied: ({ event }) => doneOutput<DecisionOutput>(event).decision === 'deny',
    stepNeedsApproval: ({ context, event }) => doneOutput<DecisionOutput>(event).decision === 'ask' || MODE_RULES[context.mode].approveEverything,
    noDecisionToken: ({ event }) => !doneOutput<DecisionOutput>(event).token,
    malformedResult: ({ event }) => !validCall(doneOutput(event)),
    validTick: ({ event }) => Number.isFinite((event as { now?: unknown }).now),
    pastWall: ({ context, event }) => {
      const now = (event as { now?: unknown }).now;
      return typeof now === 'number' && Number.isFinite(now) && (now - context.startedAt) / 1000 > context.budgets.wall_seconds;
    },
  },
}).createMachine({
  id: 'agent-plan',
  initial: 'planning',
  context: ({ input }) => initialContext(input),
  states: {
    planning: {
      on: LIVE,
      invoke: {
        id: 'planner',
        src: 'planner',
        input: ({ context }) => ({ id: context.id, task: context.task, mode: context.mode, tools: context.tools, budgets: context.budgets }),
        onDone: [
          { guard: 'malformedPlan', target: 'failed', actions: fail('plan.malformed', () => 'the planner output is not a plan over the offered tools') },
          { guard: 'planOverSteps', target: 'failed', actions: [fail('budget.steps', ({ event }) => `the plan has ${doneOutput<PlannerOutput>(event).steps.length} steps`), assign({ used: ({ context, event }) => ({ ...context.used, steps: doneOutput<PlannerOutput>(event).steps.length }) })] },
          { guard: 'planOverTokens', target: 'failed', actions: [fail('budget.tokens'), 'countPlannerTokens'] },
          { guard: 'emptyPlan', target: 'completed', actions: ['recordPlan', 'countPlannerTokens'] },
          { guard: 'planNeedsApproval', target: 'pending_approval', actions: ['recordPlan', 'countPlannerTokens'] },
          { target: 'running', actions: ['recordPlan', 'countPlannerTokens'] },
        ],
        onError: { target: 'failed', actions: fail('plan.error', ({ event }) => errorText(event)) },
      },
    },
    pending_approval: {
      entry: { type: 'announce', params: { kind: 'plan_pending' } },
      on: {
        ...LIVE,
        'agent.approve': { target: 'running', actions: assign({ planApprovedBy: ({ event }) => clip(event.by) }) },
        'agent.deny': { target: 'failed', actions: fail('plan.denied', ({ event }) => `by ${(event as { by: string }).by}`) },
      },
      after: { approvalTimeout: { target: 'failed', actions: fail('approval.timeout', () => 'the plan was not approved in time') } },
    },
    running: {
      on: LIVE,
      initial: 'checking',
      states: {
        // Between steps: done, or the next step's mode check (before policy is asked at all).
        checking: {
          always: [
            { guard: 'allStepsDone', target: '#agent-plan.completed' },
            { guard: ({ context }) => context.used.steps + 1 > context.budgets.steps, target: '#agent-plan.failed', actions: fail('budget.steps') },
            { guard: 'offlineEgress', target: '#agent-plan.failed', actions: [fail('mode.offline_only', ({ context }) => `${current(context).tool} reaches off the device`), 'stepFailedHere'] },
            { target: 'deciding', actions: 'startStep' },
          ],
        },
        deciding: {
          invoke: {
            id: 'decider',
            src: 'decider',
            input: ({ context }) => ({ id: context.id, index: context.step, step: current(context), mode: context.mode }),
            onDone: [
              { guard: 'malformedDecision', target: '#agent-plan.failed', actions: [fail('decision.malformed'), 'stepFailedHere'] },
              // Fail closed: a denied step ends the task; skipping it would run a plan the operator never saw.
              { guard: 'denied', target: '#agent-plan.failed', actions: ['recordDecision', fail('policy.deny', ({ event }) => `rule ${doneOutput<DecisionOutput>(event).rule}`), 'stepFailedHere'] },
              { guard: 'stepNeedsApproval', target: 'awaiting_approval', actions: 'recordDecision' },
              { guard: 'noDecisionToken', target: '#agent-plan.failed', actions: ['recordDecision', fail('token.missing', () => 'policy allowed the step but minted no token'), 'stepFailedHere'] },
              { target: 'calling', actions: 'recordDecision' },
            ],
            onError: { target: '#agent-plan.failed', actions: [fail('decision.error', ({ event }) => errorText(event)), 'stepFailedHere'] },
          },
        },
        awaiting_approval: {
          entry: { type: 'announce', params: { kind: 'step_pending' } },
          on: {
            'agent.approve': [{
              guard: ({ context, event }) => !event.token && !context.token,
              target: '#agent-plan.failed',
              actions: [
                assign({ evidence: ({ context, event }) => setEvidence(context, { approvedBy: clip(event.by) }) }),
                fail('token.missing', () => 'the step was approved but no token was minted for it'), 'stepFailedHere',
              ],
            }, {
              target: 'calling',
              actions: assign(({ context, event }) => ({
                token: event.token ?? context.token,
                evidence: setEvidence(context, { approvedBy: clip(event.by), ...(event.token && { nonce: event.token.nonce }) }),
              })),
            }],
            'agent.deny': { target: '#agent-plan.failed', actions: [fail('step.denied', ({ event }) => `by ${(event as { by: string }).by}`), 'stepFailedHere'] },
          },
          after: { approvalTimeout: { target: '#agent-plan.failed', actions: [fail('approval.timeout', () => 'the step was not approved in time'), 'stepFailedHere'] } },
        },
        calling: {
          invoke: {
            id: 'caller',
            src: 'caller',
            input: ({ context }) => ({
              id: context.id, index: context.step, step: current(context), token: context.token!,
              remaining: Object.fromEntries(BUDGET_NAMES.map((k) => [k, Math.max(0, context.budgets[k] - context.used[k])])) as unknown as AgentBudgets,
            }),
            onDone: [
              { guard: 'malformedResult', target: '#agent-plan.failed', actions: [fail('result.malformed'), 'stepFailedHere'] },
              { target: 'observing', actions: 'recordResult' },
            ],
            onError: { target: '#agent-plan.failed', actions: [fail('step.error', ({ event }) => errorText(event)), assign({ evidence: ({ context, event }) => setEvidence(context, { error: errorText(event) }) })] },
          },
        },
        // What the call consumed is counted; a passed budget ends the task before the next step.
        observing: {
          always: [
            { guard: 'overBudget', target: '#agent-plan.failed', actions: assign({ reason: ({ context }) => `budget.${overrun(context)!}`, detail: null }) },
            { target: 'checking', actions: assign({ step: ({ context }) => context.step + 1, token: null }) },
          ],
        },
      },
    },
    completed: { type: 'final', entry: { type: 'announce', params: { kind: 'completed' } } },
    failed: { type: 'final', entry: { type: 'announce', params: { kind: 'failed' } } },
    cancelled: { type: 'final' },
    frozen: { type: 'final' },
  },
  output: ({ context }) => ({ id: context.id, state: endOf(context.reason), reason: context.reason, evidence: context.evidence, used: context.used }),
});

/** The final state a task ended in, from its reason (null: completed). */
function endOf(reason: string | null): AgentOutput['state'] {
  return reason === null ? 'completed' : reason === 'cancelled' || reason === 'frozen' ? reason : 'failed';
}

/** The state a task is in, as lists and events name it (the step's sub-state flattened away). */
export function stateOf(value: unknown): AgentState {
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as AgentState;
}
