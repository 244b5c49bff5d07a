// The agent plan machine, computed with initialTransition()/transition(): no planner, no policy, no tools, no clock run.
import t from 'tap';
import { getShortestPaths } from '@xstate/graph';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import {
  agentPlanMachine, stateOf, BUDGET_NAMES, MODE_RULES, type AgentBudgets, type AgentInput, type CallOutput, type DecisionOutput, type PlannerOutput, type PlanStep,
} from '../../machines/agent-plan/agent-plan.machine.js';

type Snap = SnapshotFrom<typeof agentPlanMachine>;
const BUDGETS: AgentBudgets = { steps: 5, tokens: 1000, wall_seconds: 60, files_read: 10, files_written: 2, bytes_out: 4096 };
const TOOLS = ['fs.read', 'fs.write', 'web.search', 'mail.send'];
const input = (o: Partial<AgentInput> = {}): AgentInput => ({
  id: 'a1', task: 'summarize the notes', mode: 'standard', tools: TOOLS, egressTools: ['mail.send'], requirePlanApproval: true,
  approvalTimeoutMs: 300_000, budgets: BUDGETS, now: 1_000_000, ...o,
});
const read: PlanStep = { tool: 'fs.read', args: { path: '/notes.txt' }, why: 'read the notes' };
const write: PlanStep = { tool: 'fs.write', args: { path: '/summary.txt' }, why: 'write the summary' };
const search: PlanStep = { tool: 'web.search', args: { q: 'notes' }, why: 'look it up' };
const plan = (steps: PlanStep[], tokens = 100): PlannerOutput => ({ steps, tokens });
const allow = (nonce = 'n1'): DecisionOutput => ({ decision: 'allow', rule: 'tools.fs_read', token: { nonce } });
const ask = (nonce?: string): DecisionOutput => ({ decision: 'ask', rule: 'tools.fs_write', ...(nonce && { token: { nonce } }) });
const deny: DecisionOutput = { decision: 'deny', rule: 'tools.default_deny' };
const result = (o: Partial<CallOutput> = {}): CallOutput => ({ summary: 'ok', resultHash: 'ab'.repeat(32), bytesOut: 0, filesRead: 1, filesWritten: 0, ...o });

const ev = (e: Record<string, unknown>) => e as never;
const done = (id: 'planner' | 'decider' | 'caller', output: unknown) => ev({ type: `xstate.done.actor.${id}`, output });
const failed = (id: 'planner' | 'decider' | 'caller', error: unknown) => ev({ type: `xstate.error.actor.${id}`, error });
const timeout = (s: Snap) => ev({ type: `xstate.after.approvalTimeout.agent-plan.${s.matches('pending_approval') ? 'pending_approval' : 'running.awaiting_approval'}` });
const approve = (token?: string) => ev({ type: 'agent.approve', by: 'op-key-1', ...(token && { token: { nonce: token } }) });
const denyEv = ev({ type: 'agent.deny', by: 'op-key-1' });

function run(events: unknown[], o: Partial<AgentInput> = {}): [Snap, unknown[]] {
  let [s, actions] = initialTransition(agentPlanMachine, input(o));
  const all: unknown[] = [...actions];
  for (const e of events) {
    [s, actions] = transition(agentPlanMachine, s, e as never);
    all.push(...actions);
  }
  return [s, all];
}
const spawned = (actions: unknown[]) => (actions as { type: string; params?: { src?: unknown } }[]).filter((a) => a.type === 'xstate.spawnChild').map((a) => a.params?.src);
const announced = (actions: unknown[]) => (actions as { type: string; params?: { kind?: string } }[]).filter((a) => a.type === 'announce').map((a) => a.params?.kind);

t.test('agent plan — plan → approval → an allowed step and an asked-and-approved step → completed, with evidence', async (t) => {
  let [s, actions] = initialTransition(agentPlanMachine, input());
  t.equal(s.value, 'planning');
  t.same(spawned(actions), ['planner'], 'the planner is invoked');
  [s] = transition(agentPlanMachine, s, done('planner', plan([read, write])));
  t.equal(s.value, 'pending_approval');
  t.same(s.context.plan, [read, write]);
  t.equal(s.context.used.tokens, 100, 'the planner\'s tokens are counted');
  [s, actions] = transition(agentPlanMachine, s, approve());
  t.same(s.value, { running: 'deciding' });
  t.equal(s.context.planApprovedBy, 'op-key-1');
  t.same(spawned(actions), ['decider']);
  [s, actions] = transition(agentPlanMachine, s, done('decider', allow('n1')));
  t.same(s.value, { running: 'calling' }, 'allow goes straight to the call');
  t.same(spawned(actions), ['caller']);
  const callInput = (actions as { type: string; params: { input: { token: unknown; remaining: AgentBudgets } } }[]).find((a) => a.type === 'xstate.spawnChild')!.params.input;
  t.same(callInput.token, { nonce: 'n1' }, 'the call presents the minted token');
  t.equal(callInput.remaining.steps, 4, 'and what the budgets still allow');
  [s] = transition(agentPlanMachine, s, done('caller', result()));
  t.same(s.value, { running: 'deciding' }, 'the second step');
  t.equal(s.context.step, 1);
  t.equal(s.context.token, null, 'a token never outlives its step');
  [s, actions] = transition(agentPlanMachine, s, done('decider', ask()));
  t.same(s.value, { running: 'awaiting_approval' });
  t.same(announced(actions), ['step_pending']);
  [s] = transition(agentPlanMachine, s, approve('n2'));
  t.same(s.value, { running: 'calling' });
  [s, actions] = transition(agentPlanMachine, s, done('caller', result({ filesRead: 0, filesWritten: 1 })));
  t.equal(s.value, 'completed');
  t.equal(s.status, 'done');
  t.same(announced(actions), ['completed']);
  t.same(s.context.evidence.map((e) => [e.tool, e.decision, e.rule, e.nonce, e.approvedBy, e.resultHash !== null, e.error]), [
    ['fs.read', 'allow', 'tools.fs_read', 'n1', null, true, null],
    ['fs.write', 'ask', 'tools.fs_write', 'n2', 'op-key-1', true, null],
  ]);
  t.same(s.context.used, { steps: 2, tokens: 100, wall_seconds: 0, files_read: 1, files_written: 1, bytes_out: 0 });
  t.same(s.output, { id: 'a1', state: 'completed', reason: null, evidence: s.context.evidence, used: s.context.used });
});

t.test('agent plan — without plan approval in policy, the plan runs at once; a plan of zero steps completes', async (t) => {
  let [s] = run([done('planner', plan([read]))], { requirePlanApproval: false });
  t.same(s.value, { running: 'deciding' });
  [s] = run([done('planner', plan([]))]);
  t.equal(s.value, 'completed', 'nothing to approve, nothing to run');
  t.same(s.context.evidence, []);
});

t.test('agent plan — the operator denies the plan, or a step; policy denies a step: failed, fail closed, with the rule', async (t) => {
  let [s] = run([done('planner', plan([read])), denyEv]);
  t.equal(s.value, 'failed');
  t.equal(s.context.reason, 'plan.denied');
  [s] = run([done('planner', plan([read, write])), approve(), done('decider', allow()), done('caller', result()), done('decider', ask('n2')), denyEv]);
  t.equal(s.value, 'failed');
  t.equal(s.context.reason, 'step.denied');
  t.match(s.context.evidence[1], { tool: 'fs.write', decision: 'ask', error: /^step\.denied/ });
  t.equal(s.context.used.files_read, 1, 'what ran before is still counted');
  [s] = run([done('planner', plan([read, write])), approve(), done('decider', deny)]);
  t.equal(s.value, 'failed', 'a denied step is not skipped: the rest of the plan never runs');
  t.equal(s.context.reason, 'policy.deny');
  t.match(s.context.detail, /tools\.default_deny/);
  t.match(s.context.evidence[0], { decision: 'deny', rule: 'tools.default_deny', error: /policy\.deny/ });
  t.equal(s.context.evidence.length, 1);
});

t.test('agent plan — fail closed on what the effects say: malformed plan, decision, result; errors; no token', async (t) => {
  for (const bad of [null, 'a plan', { steps: 'x', tokens: 1 }, { steps: [read] }, { steps: [{ ...read, tool: 'shell.exec' }], tokens: 1 },
    { steps: [{ ...read, extra: 1 }], tokens: 1 }, { steps: [{ ...read, args: { p: { nested: 1 } } }], tokens: 1 }, { steps: [{ tool: 'fs.read', args: {} }], tokens: 1 },
    { steps: Array.from({ length: 65 }, () => read), tokens: 1 }]) {
    const [s] = run([done('planner', bad)]);
    t.equal(s.context.reason, 'plan.malformed', `refused: ${JSON.stringify(bad)?.slice(0, 60)}`);
    t.equal(s.value, 'failed');
  }
  let [s] = run([failed('planner', { code: 'SECAI_E_TIMEOUT', message: 'the planner took too long' })]);
  t.equal(s.context.reason, 'plan.error');
  t.match(s.context.detail, /SECAI_E_TIMEOUT/);
  const started = [done('planner', plan([read])), approve()];
  for (const bad of [{ decision: 'maybe', rule: 'x' }, { decision: 'allow' }, { decision: 'allow', rule: 'r', token: { nonce: '' } }, null]) {
    [s] = run([...started, done('decider', bad)]);
    t.equal(s.context.reason, 'decision.malformed', `refused decision ${JSON.stringify(bad)}`);
  }
  [s] = run([...started, failed('decider', new Error('policy unreachable'))]);
  t.equal(s.context.reason, 'decision.error');
  [s] = run([...started, done('decider', { decision: 'allow', rule: 'r' })]);
  t.equal(s.context.reason, 'token.missing', 'allowed without a token: no call');
  [s] = run([...started, done('decider', ask()), approve()]);
  t.equal(s.context.reason, 'token.missing', 'approved, but nothing minted: no call');
  t.equal(s.context.evidence[0]?.approvedBy, 'op-key-1');
  for (const bad of [{ summary: 'x' }, { ...result(), bytesOut: -1 }, { ...result(), filesRead: 1.5 }, 'done']) {
    [s] = run([...started, done('decider', allow()), done('caller', bad)]);
    t.equal(s.context.reason, 'result.malformed', `refused result ${JSON.stringify(bad)}`);
  }
  [s] = run([...started, done('decider', allow()), failed('caller', { code: 'SECAI_E_POLICY_DENIED', message: 'path outside the workspace' })]);
  t.equal(s.context.reason, 'step.error');
  t.match(s.context.evidence[0]?.error, /SECAI_E_POLICY_DENIED: path outside/);
});

t.test('agent plan — an approval that waits past its timeout fails the task', async (t) => {
  let [s, actions] = run([done('planner', plan([read]))]);
  t.ok((actions as { type: string; params?: { delay?: unknown } }[]).some((a) => a.type === 'xstate.raise' && a.params?.delay === 300_000), 'the timer is the context\'s delay');
  [s] = transition(agentPlanMachine, s, timeout(s));
  t.equal(s.value, 'failed');
  t.equal(s.context.reason, 'approval.timeout');
  [s] = run([done('planner', plan([read])), approve(), done('decider', ask('n1'))]);
  t.same(s.value, { running: 'awaiting_approval' });
  [s] = transition(agentPlanMachine, s, timeout(s));
  t.equal(s.context.reason, 'approval.timeout');
  t.match(s.context.evidence[0]?.error, /approval\.timeout/);
});

t.test('agent plan — offline_only: an egress step fails with mode.offline_only before policy is asked', async (t) => {
  for (const tool of ['web.search', 'mail.send']) {
    const [s, actions] = run([done('planner', plan([read, { ...search, tool }])), approve(), done('decider', allow()), done('caller', result())], { mode: 'offline_only' });
    t.equal(s.value, 'failed', tool);
    t.equal(s.context.reason, 'mode.offline_only');
    t.equal(spawned(actions).filter((x) => x === 'decider').length, 1, 'the policy was asked about the first step only');
    t.match(s.context.evidence[1], { tool, decision: null, error: /mode\.offline_only/ });
  }
  const [s] = run([done('planner', plan([search])), approve()], { mode: 'standard' });
  t.same(s.value, { running: 'deciding' }, 'standard mode asks policy about the same step');
});

t.test('agent plan — sensitive: the plan and every step wait for approval, even an allowed one', async (t) => {
  t.ok(MODE_RULES.sensitive.approveEverything);
  let [s] = run([done('planner', plan([read]))], { mode: 'sensitive', requirePlanApproval: false });
  t.equal(s.value, 'pending_approval', 'the plan needs approval whatever policy says');
  [s] = run([done('planner', plan([read])), approve(), done('decider', allow('n1'))], { mode: 'sensitive' });
  t.same(s.value, { running: 'awaiting_approval' });
  [s] = transition(agentPlanMachine, s, approve());
  t.same(s.value, { running: 'calling' }, 'the token minted with the decision is used');
  t.same(s.context.token, { nonce: 'n1' });
});

t.test('agent plan — each budget overrun fails the task with budget.<name>', async (t) => {
  const go = (o: Partial<AgentBudgets>, events: unknown[]) => run(events, { budgets: { ...BUDGETS, ...o }, requirePlanApproval: false })[0];
  const one = (r: Partial<CallOutput>) => [done('planner', plan([read, read])), done('decider', allow()), done('caller', result(r))];
  let s = go({ steps: 1 }, [done('planner', plan([read, write]))]);
  t.equal(s.context.reason, 'budget.steps', 'a plan longer than the step budget never starts');
  s = go({ tokens: 50 }, [done('planner', plan([read], 51))]);
  t.equal(s.context.reason, 'budget.tokens', 'the planner spent too much');
  s = go({ tokens: 150 }, one({ tokens: 51 }));
  t.equal(s.context.reason, 'budget.tokens', 'a step spent too much');
  s = go({ files_read: 2 }, one({ filesRead: 3 }));
  t.equal(s.context.reason, 'budget.files_read');
  s = go({ files_written: 0 }, one({ filesWritten: 1 }));
  t.equal(s.context.reason, 'budget.files_written');
  s = go({ bytes_out: 10 }, one({ bytesOut: 11 }));
  t.equal(s.context.reason, 'budget.bytes_out');
  t.equal(s.value, 'failed');
  t.equal(s.context.step, 0, 'the next step never started');
  s = go({}, one({ bytesOut: 4096 }));
  t.same(s.value, { running: 'deciding' }, 'exactly at the limit is within it');
  s = go({ wall_seconds: 30 }, [done('planner', plan([read])), ev({ type: 'agent.tick', now: 1_029_000 })]);
  t.same(s.value, { running: 'deciding' }, '29 s of 30');
  t.equal(s.context.used.wall_seconds, 29);
  s = go({ wall_seconds: 30 }, [done('planner', plan([read])), ev({ type: 'agent.tick', now: 1_031_000 })]);
  t.equal(s.context.reason, 'budget.wall_seconds');
  s = go({ wall_seconds: 30 }, [ev({ type: 'agent.tick', now: 1_031_000 })]);
  t.equal(s.context.reason, 'budget.wall_seconds', 'while planning too');
  s = go({}, [ev({ type: 'agent.tick', now: Number.NaN })]);
  t.equal(s.value, 'planning', 'a tick without a time changes nothing');
  t.same([...BUDGET_NAMES].sort(), ['bytes_out', 'files_read', 'files_written', 'steps', 'tokens', 'wall_seconds']);
});

/** Every non-final state a task can be in, reached by the events that lead there. */
const NON_FINAL: [string, unknown[]][] = [
  ['planning', []],
  ['pending_approval', [done('planner', plan([read]))]],
  ['running.deciding', [done('planner', plan([read])), approve()]],
  ['running.awaiting_approval', [done('planner', plan([read])), approve(), done('decider', ask('n'))]],
  ['running.calling', [done('planner', plan([read])), approve(), done('decider', allow())]],
];

t.test('agent plan — cancel from every non-final state → cancelled; freeze → frozen; both final', async (t) => {
  for (const [where, events] of NON_FINAL) {
    const [before] = run(events);
    t.equal(JSON.stringify(before.value).replace(/[{}":]/g, (c) => (c === ':' ? '.' : '')), where, `reached ${where}`);
    let [s, actions] = transition(agentPlanMachine, before, ev({ type: 'agent.cancel', by: 'op-key-1' }));
    t.equal(s.value, 'cancelled', `cancel from ${where}`);
    t.equal(s.status, 'done');
    t.same(announced(actions), ['cancelled']);
    t.equal(s.output?.state, 'cancelled');
    if (/planning|deciding|calling/.test(where)) t.ok((actions as { type: string }[]).some((a) => a.type === 'xstate.stopChild'), 'the running effect is stopped');
    [s, actions] = transition(agentPlanMachine, before, ev({ type: 'agent.freeze', incidentId: 'inc-1' }));
    t.equal(s.value, 'frozen', `freeze from ${where}`);
    t.same(announced(actions), ['frozen']);
    t.match(s.context.detail, /incident inc-1/);
    const [after] = transition(agentPlanMachine, s, approve());
    t.equal(after.value, 'frozen', 'a frozen task never resumes');
  }
  for (const end of ['completed', 'failed', 'cancelled']) {
    const events = end === 'completed' ? [done('planner', plan([]))] : end === 'failed' ? [done('planner', null)] : [ev({ type: 'agent.cancel', by: 'k' })];
    const [s] = run(events);
    t.equal(s.value, end);
    const [f] = transition(agentPlanMachine, s, ev({ type: 'agent.freeze', incidentId: 'inc-1' }));
    t.equal(f.value, end, `a final ${end} task stays ${end} when frozen`);
  }
  t.equal(stateOf({ running: 'calling' }), 'running');
  t.equal(stateOf('frozen'), 'frozen');
});

t.test('agent plan — graph: every reachable state reaches a final state without cancel or freeze, and ends are consistent', async (t) => {
  const m = agentPlanMachine.provide({ actions: { announce: () => {} } });
  const events = [
    done('planner', plan([read, write], 10)), done('planner', plan([], 10)), done('planner', { bad: true }), failed('planner', new Error('x')),
    done('planner', plan([read, search, write], 10)),
    done('decider', allow()), done('decider', ask()), done('decider', ask('n9')), done('decider', deny), done('decider', { decision: 'allow', rule: 'r' }), failed('decider', new Error('x')),
    done('caller', result()), done('caller', result({ bytesOut: 999_999 })), done('caller', { x: 1 }), failed('caller', new Error('x')),
    approve(), approve('n8'), denyEv,
    ev({ type: 'xstate.after.approvalTimeout.agent-plan.pending_approval' }), ev({ type: 'xstate.after.approvalTimeout.agent-plan.running.awaiting_approval' }),
  ];
  const live = [...events, ev({ type: 'agent.cancel', by: 'k' }), ev({ type: 'agent.freeze', incidentId: 'i' }), ev({ type: 'agent.tick', now: 9_999_999_999 })];
  for (const mode of ['offline_only', 'standard', 'sensitive'] as const) {
    const paths = getShortestPaths(m, { events: live, input: input({ mode, budgets: { ...BUDGETS, bytes_out: 1000 } }) } as never);
    const reached = paths.map((p) => p.state as Snap);
    t.ok(reached.length > 10, `${mode}: ${reached.length} states reached`);
    const ends = new Set(reached.filter((s) => s.status === 'done').map((s) => String(s.value)));
    t.same([...ends].sort(), ['cancelled', 'completed', 'failed', 'frozen'], `${mode}: every end is reachable`);
    const wrong: string[] = [];
    for (const s of reached) {
      const at = JSON.stringify(s.value);
      if (s.status === 'done') {
        if (s.value === 'completed') {
          if (s.context.reason !== null) wrong.push(`${at}: completed with a reason`);
          if (!s.context.evidence.every((e) => (e.decision === 'allow' || e.decision === 'ask') && e.resultHash && !e.error)) wrong.push(`${at}: completed with a step not allowed, not approved or not run`);
          if (s.context.evidence.length !== (s.context.plan?.length ?? 0)) wrong.push(`${at}: completed without running every step`);
          if (mode === 'offline_only' && s.context.evidence.some((e) => e.tool === 'web.search')) wrong.push('offline_only completed an egress step');
          if (mode === 'sensitive' && !s.context.evidence.every((e) => e.approvedBy)) wrong.push('sensitive ran a step nobody approved');
        } else if (typeof s.context.reason !== 'string') wrong.push(`${at}: ended without a reason`);
        if (s.output?.state !== s.value) wrong.push(`${at}: output says ${s.output?.state}`);
        continue;
      }
      // Without an operator's cancel, an incident or a clock, the task still ends: no state waits forever.
      const seen = new Set<string>();
      const queue: Snap[] = [s];
      let ended = false;
      while (queue.length && !ended) {
        const x = queue.shift()!;
        for (const e of events) {
          const [y] = transition(m, x, e as never);
          if (y.status === 'done') { ended = true; break; }
          const k = JSON.stringify([y.value, y.context]);
          if (!seen.has(k)) { seen.add(k); queue.push(y); }
        }
      }
      if (!ended) wrong.push(`${at} cannot reach a final state`);
    }
    t.same(wrong, [], `${mode}: every reachable state ends, and every end is consistent`);
  }
});
