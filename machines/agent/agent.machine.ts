// The agent actor's machine: spawns one agent-plan machine per task, routes operator and incident events to them, and holds the capability tokens minted for their steps.
import { assign, enqueueActions, setup } from 'xstate';
import { agentPlanMachine, type AgentEvent, type AgentInput, type AgentOutput } from '../agent-plan/agent-plan.machine.js';

export { agentPlanMachine };

/** How the agent is configured (agent.yaml, validated and frozen by the actor). */
export interface AgentConfigView {
  enabled: boolean;
  digest: string;
}

/** One task as the actor keeps it beside its machine: who started it and when; `end` once its machine finished. */
export interface TaskRecord {
  id: string;
  by: string;
  createdAt: number;
  /** The planner model the task named (else the actor's default). */
  model: string | null;
  end: AgentOutput['state'] | null;
}

/** A capability token minted for one step, held until the step's call presents it (never published). */
export interface HeldToken {
  planId: string;
  token: string;
}

/** The last incident freeze: which incident, when, and how many tasks it stopped. */
export interface FreezeRecord { incidentId: string; at: number; frozen: number }

/** The freeze in force: no task starts until an operator unfreezes (kept on disk by the actor across restarts). */
export interface Frozen { incidentId: string; reason: string; at: number }

export interface AgentActorContext {
  config: AgentConfigView;
  /** Tasks, oldest first; finished task machines stay (their snapshot is the task's record) up to MAX_TASKS. */
  tasks: TaskRecord[];
  /** Minted tokens by nonce. */
  tokens: Record<string, HeldToken>;
  lastFreeze: FreezeRecord | null;
  /** Set by an incident's freeze, cleared only by the signed operator unfreeze: while set, nothing starts. */
  frozen: Frozen | null;
  done: number;
}

/** Tasks kept (finished ones beyond this go, oldest first); a live task is never dropped. */
export const MAX_TASKS = 64;
/** Live tasks at once: more is refused (each one may hold a model and the operator's attention). */
export const MAX_LIVE_TASKS = 8;

export type AgentActorEvent =
  | { type: 'agent.create'; input: AgentInput; by: string; model: string | null }
  /** An operator or step event for one task's machine. */
  | { type: 'agent.route'; id: string; event: AgentEvent }
  | { type: 'agent.freeze_all'; incidentId: string; reason: string; now: number }
  | { type: 'agent.unfreeze' }
  | { type: 'agent.tick'; now: number }
  | { type: 'agent.token_held'; nonce: string; planId: string; token: string }
  | { type: 'agent.token_spent'; nonce: string }
  | { type: `xstate.done.actor.${string}`; output: AgentOutput }
  | { type: `xstate.error.actor.${string}`; error: unknown };

const DONE = 'xstate.done.actor.';
const ERROR = 'xstate.error.actor.';
const idOf = (type: string) => type.slice(type.startsWith(DONE) ? DONE.length : ERROR.length);

export const liveTasks = (c: Pick<AgentActorContext, 'tasks'>): TaskRecord[] => c.tasks.filter((t) => t.end === null);
const isLive = (c: AgentActorContext, id: string) => c.tasks.some((t) => t.id === id && t.end === null);

/** Tokens of tasks other than `planId` (a finished task's unspent tokens are dropped with it). */
const withoutPlan = (tokens: Record<string, HeldToken>, planId: string) => Object.fromEntries(Object.entries(tokens).filter(([, v]) => v.planId !== planId));

export const agentMachine = setup({
  types: {} as { context: AgentActorContext; events: AgentActorEvent; input: { config: AgentConfigView; frozen?: Frozen | null } },
  actors: { plan: agentPlanMachine },
  actions: {
    /** A task ended: its record gets the end state, its tokens go, and the oldest finished tasks beyond MAX_TASKS are stopped. */
    finish: enqueueActions(({ context, enqueue }, { id, end }: { id: string; end: TaskRecord['end'] }) => {
      let tasks = context.tasks.map((t) => (t.id === id ? { ...t, end } : t));
      let over = tasks.length - MAX_TASKS;
      for (const t of [...tasks]) {
        if (over <= 0) break;
        if (t.end !== null) {
          enqueue.stopChild(t.id);
          tasks = tasks.filter((x) => x.id !== t.id);
          over--;
        }
      }
      enqueue.assign({ tasks, tokens: withoutPlan(context.tokens, id), done: context.done + 1 });
    }),
  },
  guards: {
    canCreate: ({ context, event }) => context.config.enabled && context.frozen === null && liveTasks(context).length < MAX_LIVE_TASKS
      && !context.tasks.some((t) => t.id === (event as { input: AgentInput }).input.id),
    live: ({ context, event }) => isLive(context, (event as { id: string }).id),
  },
}).createMachine({
  id: 'agent',
  initial: 'idle',
  context: ({ input }) => ({ config: input.config, tasks: [], tokens: {}, lastFreeze: null, frozen: input.frozen ?? null, done: 0 }),
  on: {
    // Refused here too (the actor checks first and says why): a disabled agent or a full table starts nothing.
    'agent.create': {
      guard: 'canCreate',
      actions: [
        assign({ tasks: ({ context, event }) => [...context.tasks, { id: event.input.id, by: event.by, createdAt: event.input.now, model: event.model, end: null }] }),
        enqueueActions(({ event, enqueue }) => { enqueue.spawnChild('plan', { id: event.input.id, input: event.input }); }),
      ],
    },
    // Only a live task has a machine to tell: an event for any other id changes nothing.
    'agent.route': { guard: 'live', actions: enqueueActions(({ event, enqueue }) => { enqueue.sendTo(event.id, event.event); }) },
    'agent.freeze_all': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const live = liveTasks(context);
        for (const t of live) enqueue.sendTo(t.id, { type: 'agent.freeze', incidentId: event.incidentId });
        // A second freeze keeps the first record (the one an operator clears), as the airlock's containment does.
        enqueue.assign({
          lastFreeze: { incidentId: event.incidentId, at: event.now, frozen: live.length },
          frozen: context.frozen ?? { incidentId: event.incidentId, reason: event.reason.slice(0, 512), at: event.now },
        });
      }),
    },
    'agent.unfreeze': { actions: assign({ frozen: null }) },
    // The wall budget: the machines read no clock, the actor tells them the time.
    'agent.tick': { actions: enqueueActions(({ context, event, enqueue }) => { for (const t of liveTasks(context)) enqueue.sendTo(t.id, { type: 'agent.tick', now: event.now }); }) },
    'agent.token_held': {
      guard: ({ context, event }) => isLive(context, event.planId),
      actions: assign({ tokens: ({ context, event }) => ({ ...context.tokens, [event.nonce]: { planId: event.planId, token: event.token } }) }),
    },
    'agent.token_spent': { actions: assign({ tokens: ({ context, event }) => Object.fromEntries(Object.entries(context.tokens).filter(([n]) => n !== event.nonce)) }) },
    'xstate.done.actor.*': { actions: { type: 'finish', params: ({ event }) => ({ id: idOf(event.type), end: (event as { output: AgentOutput }).output.state }) } },
    // A task machine that crashes is a failed task, never a crashed actor.
    'xstate.error.actor.*': { actions: { type: 'finish', params: ({ event }) => ({ id: idOf(event.type), end: 'failed' as const }) } },
  },
  states: {
    idle: { always: { guard: ({ context }) => liveTasks(context).length > 0, target: 'running' } },
    running: { always: { guard: ({ context }) => liveTasks(context).length === 0, target: 'idle' } },
  },
});
