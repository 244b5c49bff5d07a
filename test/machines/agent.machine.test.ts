// The agent actor's machine with a real actor and stub effects: it spawns one task machine per run, routes events only
// to live tasks, freezes every live task at once, and holds a task's tokens only while the task lives.
import t from 'tap';
import { createActor, fromPromise } from 'xstate';
import { agentMachine, agentPlanMachine, MAX_LIVE_TASKS, type AgentActorContext } from '../../machines/agent/agent.machine.js';
import type { AgentBudgets, AgentInput, AgentMode, CallOutput, PlanStep, DecisionOutput, PlannerInput, PlannerOutput } from '../../machines/agent-plan/agent-plan.machine.js';

type DecisionInput = { id: string; index: number; step: PlanStep; mode: AgentMode };
type CallInput = { id: string; index: number; step: PlanStep; token: { nonce: string }; remaining: AgentBudgets };
const BUDGETS = { steps: 4, tokens: 1000, wall_seconds: 60, files_read: 10, files_written: 1, bytes_out: 0 };
const input = (id: string): AgentInput => ({ id, task: 'write it', mode: 'standard', tools: ['fs.write'], requirePlanApproval: false, approvalTimeoutMs: 60_000, budgets: BUDGETS, now: 1000 });
// Every task plans one write that policy asks about: it waits for the operator until told otherwise.
const machine = agentMachine.provide({
  actors: {
    plan: agentPlanMachine.provide({
      actors: {
        planner: fromPromise<PlannerOutput, PlannerInput>(async () => ({ steps: [{ tool: 'fs.write', args: { path: '/w/a' }, why: 'w' }], tokens: 1 })),
        decider: fromPromise<DecisionOutput, DecisionInput>(async () => ({ decision: 'ask', rule: 'fs-write' })),
        caller: fromPromise<CallOutput, CallInput>(async () => ({ summary: 'ok', resultHash: 'a'.repeat(64), bytesOut: 0, filesRead: 0, filesWritten: 1 })),
      },
      actions: { announce: () => {} },
    }),
  },
});
const actors: { stop(): void }[] = [];
// Waiting tasks hold their approval timers: every actor is stopped at the end.
t.teardown(() => actors.forEach((a) => a.stop()));
const start = (enabled = true) => {
  const a = createActor(machine, { input: { config: { enabled, digest: 'd' } } }).start();
  actors.push(a);
  return a;
};
const tick = () => new Promise((r) => setTimeout(r, 10));
const stateOfChild = (a: ReturnType<typeof start>, id: string) => (a.getSnapshot().children[id]?.getSnapshot() as { value: unknown; status: string } | undefined);
const ctx = (a: ReturnType<typeof start>): AgentActorContext => a.getSnapshot().context;

t.test('agent machine — a disabled agent spawns nothing; an enabled one one machine per task', async (t) => {
  const off = start(false);
  off.send({ type: 'agent.create', input: input('plan-a'), by: 'op', model: null });
  t.same(ctx(off).tasks, []);
  t.notOk(off.getSnapshot().children['plan-a']);
  const on = start();
  on.send({ type: 'agent.create', input: input('plan-a'), by: 'op', model: null });
  on.send({ type: 'agent.create', input: input('plan-a'), by: 'op', model: null });
  t.equal(ctx(on).tasks.length, 1, 'an id is never reused');
  t.ok(on.getSnapshot().matches('running'));
  await tick();
  t.same(stateOfChild(on, 'plan-a')?.value, { running: 'awaiting_approval' });
});

t.test('agent machine — tokens are held for live tasks only, dropped when the task ends', async (t) => {
  const a = start();
  a.send({ type: 'agent.create', input: input('plan-a'), by: 'op', model: null });
  await tick();
  a.send({ type: 'agent.token_held', nonce: 'n1', planId: 'plan-a', token: 'tok' });
  a.send({ type: 'agent.token_held', nonce: 'n2', planId: 'plan-zzz', token: 'tok' });
  t.same(Object.keys(ctx(a).tokens), ['n1'], 'no token for a task that does not exist');
  a.send({ type: 'agent.route', id: 'plan-a', event: { type: 'agent.cancel', by: 'op' } });
  await tick();
  t.equal(stateOfChild(a, 'plan-a')?.value, 'cancelled');
  t.same(ctx(a).tokens, {}, 'the ended task\'s tokens went');
  t.match(ctx(a).tasks[0], { id: 'plan-a', end: 'cancelled' });
  t.ok(a.getSnapshot().matches('idle'));
  a.send({ type: 'agent.route', id: 'plan-a', event: { type: 'agent.approve', by: 'op', token: { nonce: 'x' } } });
  t.equal(stateOfChild(a, 'plan-a')?.value, 'cancelled', 'an ended task is told nothing');
});

t.test('agent machine — freeze_all freezes every live task and records it; nothing starts until unfreeze', async (t) => {
  const a = start();
  for (const id of ['plan-a', 'plan-b']) a.send({ type: 'agent.create', input: input(id), by: 'op', model: null });
  await tick();
  a.send({ type: 'agent.freeze_all', incidentId: 'inc-1', reason: 'canary read', now: 5 });
  await tick();
  t.equal(stateOfChild(a, 'plan-a')?.value, 'frozen');
  t.equal(stateOfChild(a, 'plan-b')?.value, 'frozen');
  t.same(ctx(a).lastFreeze, { incidentId: 'inc-1', at: 5, frozen: 2 });
  t.same(ctx(a).frozen, { incidentId: 'inc-1', reason: 'canary read', at: 5 });
  a.send({ type: 'agent.create', input: input('plan-c'), by: 'op', model: null });
  await tick();
  t.notOk(ctx(a).tasks.some((x) => x.id === 'plan-c'), 'a frozen agent starts nothing');
  a.send({ type: 'agent.freeze_all', incidentId: 'inc-2', reason: 'again', now: 6 });
  t.equal(ctx(a).frozen?.incidentId, 'inc-1', 'a second freeze keeps the first record');
  a.send({ type: 'agent.unfreeze' });
  a.send({ type: 'agent.create', input: input('plan-c'), by: 'op', model: null });
  await tick();
  t.same(stateOfChild(a, 'plan-c')?.value, { running: 'awaiting_approval' }, 'after the operator unfreezes, tasks run');
});

t.test('agent machine — a freeze read from disk at start holds from the first event', async (t) => {
  const a = createActor(machine, { input: { config: { enabled: true, digest: 'd' }, frozen: { incidentId: 'inc-9', reason: 'r', at: 1 } } }).start();
  actors.push(a);
  a.send({ type: 'agent.create', input: input('plan-a'), by: 'op', model: null });
  t.same(a.getSnapshot().context.tasks, []);
});

t.test('agent machine — at most MAX_LIVE_TASKS live tasks', async (t) => {
  const a = start();
  for (let i = 0; i <= MAX_LIVE_TASKS; i++) a.send({ type: 'agent.create', input: input(`plan-${i}`), by: 'op', model: null });
  t.equal(ctx(a).tasks.length, MAX_LIVE_TASKS);
});
