// The incident machine (one cause's life) and the manager (dedup, flood bound, tool-call bursts), computed with transition(): no bus, no clock.
import t from 'tap';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import type { Detection } from '../../contracts/detection.js';
import {
  incidentMachine, managerMachine, stateOf, MAX_EVIDENCE, type IncidentInput, type IncidentsPolicy, type StepOutcome,
} from '../../machines/incident/manager.machine.js';

const det = (o: Partial<Detection> = {}): Detection => ({
  class: 'integrity_violation', key: 'audit-chain', summary: 'the audit chain is broken', severity: 'high', evidence: { line: 3 }, target: {}, at: 1000, ...o,
});
const input = (o: Partial<IncidentInput> = {}): IncidentInput => ({ id: 'i1', detection: det(), severity: 'high', actions: ['lock_vault', 'end_sessions'], escalateAfter: 3, ...o });
const done = (output: StepOutcome) => ({ type: 'xstate.done.actor.0.incident.open.containing', output }) as never;
const failed = (error: unknown) => ({ type: 'xstate.error.actor.0.incident.open.containing', error }) as never;
const ev = (e: Record<string, unknown>) => e as never;
type Snap = SnapshotFrom<typeof incidentMachine>;
const announced = (actions: readonly unknown[]) =>
  (actions as { type: string; params?: unknown }[]).filter((a) => a.type === 'announce').map((a) => (a.params as { kind: string }).kind);

/** Finds the invoke id the machine gave the containing step (it is generated), then answers it. */
function answer(s: Snap, out: StepOutcome | Error): ReturnType<typeof transition<typeof incidentMachine>> {
  const id = Object.keys(s.children)[0]!;
  return transition(incidentMachine, s, (out instanceof Error ? { type: `xstate.error.actor.${id}`, error: out } : { type: `xstate.done.actor.${id}`, output: out }) as never);
}

t.test('incident — open runs each containment step in policy order, then contained; every transition is announced', async (t) => {
  let [s, actions] = initialTransition(incidentMachine, input());
  t.same(s.value, { open: 'containing' });
  t.equal(stateOf(s.value), 'open');
  t.same(announced(actions), ['opened']);
  t.same(s.context.steps.map((x) => x.status), ['pending', 'pending']);
  t.ok(actions.some((a) => a.type === 'xstate.spawnChild' && (a.params as { src?: string }).src === 'contain'), 'the contain effect is invoked');
  [s, actions] = answer(s, { status: 'done', detail: 'vault locked', at: 1001 });
  t.same(s.value, { open: 'containing' }, 'the second step runs');
  t.same(s.context.steps.map((x) => x.status), ['done', 'pending']);
  [s, actions] = answer(s, { status: 'done', detail: 'sessions ended', at: 1002 });
  t.equal(s.value, 'contained');
  t.same(announced(actions), ['contained']);
  t.same(s.context.steps.map((x) => [x.action, x.status, x.detail]), [['lock_vault', 'done', 'vault locked'], ['end_sessions', 'done', 'sessions ended']]);
  t.same(s.context.timeline.map((x) => x.state), ['open', 'contained']);
});

t.test('incident — a failed step (a missing op, a refusal, an effect that throws) escalates, with the error as the step detail', async (t) => {
  let [s] = initialTransition(incidentMachine, input());
  [s] = answer(s, { status: 'failed', detail: 'SECAI_E_PERMISSION: permission denied', at: 1001 });
  let actions;
  [s, actions] = answer(s, new Error('boom'));
  t.equal(s.value, 'escalated');
  t.same(announced(actions), ['escalated']);
  t.same(s.context.steps.map((x) => x.status), ['failed', 'failed'], 'the later steps still ran');
  t.match(s.context.escalation, /containment failed: lock_vault \(SECAI_E_PERMISSION.*end_sessions \(error: boom\)/);
});

t.test('incident — a skipped step (no actor for it yet) does not escalate', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: ['freeze_agent'] }));
  [s] = answer(s, { status: 'skipped', detail: 'no agent actor', at: 1001 });
  t.equal(s.value, 'contained');
  t.same(s.context.steps[0], { action: 'freeze_agent', status: 'skipped', detail: 'no agent actor', at: 1001 });
});

t.test('incident — no containment in policy: contained at once, saying so', async (t) => {
  const [s] = initialTransition(incidentMachine, input({ actions: [] }));
  t.equal(s.value, 'contained');
  t.match(s.context.timeline[1]?.reason, /no containment in policy/);
});

t.test('incident — repeats are counted (evidence bounded); past the threshold after containment it escalates', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: [] }));
  const told: string[] = [];
  for (let i = 0; i < 2; i++) {
    let a;
    [s, a] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det({ at: 2000 + i }) }));
    told.push(...announced(a));
  }
  t.equal(s.value, 'contained', 'two repeats: below the threshold of 3');
  t.equal(s.context.count, 3);
  t.same(told, ['updated'], 'count 2 told, count 3 not (powers of two)');
  let a;
  [s, a] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det({ at: 3000 }) }));
  t.equal(s.value, 'escalated');
  t.same(announced(a), ['updated', 'escalated']);
  t.match(s.context.escalation, /repeated 3 times after containment/);
  t.equal(s.context.lastSeen, 3000);
  for (let i = 0; i < 100; i++) [s] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det({ at: 4000 + i, evidence: { i } }) }));
  t.equal(s.context.count, 104);
  t.equal(s.context.evidence.length, MAX_EVIDENCE, 'evidence is bounded');
  t.same(s.context.evidence[0]?.evidence, { line: 3 }, 'the first detection is kept');
  t.same(s.context.evidence.at(-1)?.evidence, { i: 99 }, 'and the latest');
});

t.test('incident — repeats while open (containing) are counted but do not escalate', async (t) => {
  let [s] = initialTransition(incidentMachine, input());
  for (let i = 0; i < 10; i++) [s] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det() }));
  t.same(s.value, { open: 'containing' });
  t.equal(s.context.count, 11);
});

t.test('incident — ack and resolve need an operator key id; resolve only after ack', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: [] }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.resolve', by: 'op1', note: 'x', at: 5 }));
  t.equal(s.value, 'contained', 'resolve before ack: refused');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', note: 'no key', at: 5 }));
  t.equal(s.value, 'contained', 'an ack without a key id: refused');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: '', note: '', at: 5 }));
  t.equal(s.value, 'contained', 'an empty key id: refused');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: 'a b\n', note: '', at: 5 }));
  t.equal(s.value, 'contained', 'a malformed key id: refused');
  let a;
  [s, a] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: 'operator-1', note: 'looking', at: 6 }));
  t.equal(s.value, 'acknowledged');
  t.same(announced(a), ['acknowledged']);
  [s, a] = transition(incidentMachine, s, ev({ type: 'incident.resolve', by: 'operator-1', note: 'restored from backup', at: 7 }));
  t.equal(s.value, 'resolved');
  t.equal(s.status, 'done');
  t.same(announced(a), ['resolved']);
  t.same(s.context.timeline.slice(-2).map((x) => [x.state, x.by, x.note]), [['acknowledged', 'operator-1', 'looking'], ['resolved', 'operator-1', 'restored from backup']]);
  t.same(s.output, { id: 'i1' }, 'the manager hears it is done');
});

t.test('incident — an escalated incident is acknowledged, then resolved; ack while still containing is refused', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: ['lock_vault'] }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: 'op', note: '', at: 5 }));
  t.same(s.value, { open: 'containing' }, 'no ack while containment runs');
  [s] = answer(s, { status: 'failed', detail: 'no responder', at: 2 });
  t.equal(s.value, 'escalated');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.resolve', by: 'op', note: '', at: 5 }));
  t.equal(s.value, 'escalated', 'resolve straight from escalated: refused');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: 'op', note: 'seen', at: 6 }));
  t.equal(s.value, 'acknowledged');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.resolve', by: 'op', note: 'fixed', at: 7 }));
  t.equal(s.value, 'resolved');
});

t.test('incident — repeats after acknowledgement past the threshold escalate again', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: [], escalateAfter: 2 }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by: 'op', note: '', at: 6 }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det() }));
  t.equal(s.value, 'acknowledged');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det() }));
  t.equal(s.value, 'escalated');
});

t.test('incident — a restored incident resumes in the state it had, with its count, evidence and steps; nothing is announced again', async (t) => {
  let [s] = initialTransition(incidentMachine, input({ actions: [] }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.seen', detection: det({ at: 1500 }) }));
  for (const state of ['contained', 'escalated', 'acknowledged'] as const) {
    const [r, a] = initialTransition(incidentMachine, input({ restore: { state, context: s.context } }));
    t.equal(r.value, state);
    t.equal(r.context.count, 2);
    t.same(r.context.evidence, s.context.evidence);
    t.same(announced(a), []);
  }
  // Open with a pending step: the step runs again (steps are idempotent).
  const [o] = initialTransition(incidentMachine, input());
  const [r] = initialTransition(incidentMachine, input({ restore: { state: 'open', context: o.context } }));
  t.same(r.value, { open: 'containing' });
});

t.test('incident — the overflow incident starts escalated with its reason and no containment; each folded cause is counted by class', async (t) => {
  let [s, a] = initialTransition(incidentMachine, input({ escalate: 'incident flood' }));
  t.equal(s.value, 'escalated');
  t.same(announced(a), ['escalated']);
  t.same(s.context.steps, []);
  [s] = transition(incidentMachine, s, ev({ type: 'incident.flood', detection: det({ class: 'unauthorized_access', key: 'k1' }) }));
  [s] = transition(incidentMachine, s, ev({ type: 'incident.flood', detection: det({ key: 'k2' }) }));
  t.same(s.context.flood, { distinct: 2, byClass: { unauthorized_access: 1, integrity_violation: 1 }, sample: ['unauthorized_access:k1', 'integrity_violation:k2'] });
});

// The manager, computed with transition(): its children are spawned as actions (not run), so each test reads the actions and the context.
const policy: IncidentsPolicy = {
  classes: {
    attestation_failure: { severity: 'critical' }, policy_bypass_attempt: { severity: 'high' }, manifest_mismatch: { severity: 'high' },
    forbidden_airlock_request: { severity: 'medium' }, prompt_injection: { severity: 'high' }, tool_call_burst: { severity: 'medium' },
    model_behavior_anomaly: { severity: 'high' }, integrity_violation: { severity: 'critical' }, unauthorized_access: { severity: 'high' },
  },
  containment: { integrity_violation: { critical: ['lock_vault'] }, unauthorized_access: { high: ['end_sessions'], critical: ['end_sessions', 'lock_vault'] } },
  dedup_window_ms: 10_000, escalate_after_repeats: 5, max_open: 3, tool_call_burst: { denies: 3, window_ms: 1000 },
};
type MSnap = SnapshotFrom<typeof managerMachine>;
type Act = { type: string; params?: unknown };
const spawned = (acts: readonly unknown[]) =>
  (acts as Act[]).filter((x) => x.type === 'xstate.spawnChild').map((x) => (x.params as { id: string; input?: IncidentInput }));
const sentTo = (acts: readonly unknown[]) =>
  (acts as Act[]).filter((x) => x.type === 'xstate.sendTo').map((x) => x.params as { to: unknown; event: { type: string } });

t.test('manager — one cause within the window is one incident; severity from policy (a detector may raise it); actions from class+severity', async (t) => {
  let [s]: [MSnap, unknown] = initialTransition(managerMachine, { policy, restored: [] });
  let a;
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ severity: 'low' }), id: 'a1' }));
  const [first] = spawned(a);
  t.equal(first?.id, 'a1');
  t.equal(first?.input?.severity, 'critical', 'the class default wins over a lower detector severity');
  t.same(first?.input?.actions, ['lock_vault']);
  for (let i = 0; i < 1000; i++) [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ at: 1000 + i }), id: `x${i}` }));
  t.same(spawned(a), []);
  t.equal(sentTo(a)[0]?.event.type, 'incident.seen');
  t.same(Object.keys(s.context.live), ['a1']);
  t.equal(s.context.detections, 1001);
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ class: 'unauthorized_access', key: 'id:x', severity: 'critical' }), id: 'b1' }));
  t.equal(spawned(a)[0]?.input?.severity, 'critical', 'a detector raises the severity');
  t.same(spawned(a)[0]?.input?.actions, ['end_sessions', 'lock_vault']);
  // Past the window: a new incident for the same cause.
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ at: 1999 + 10_001 }), id: 'a2' }));
  t.equal(spawned(a)[0]?.id, 'a2');
  t.equal(s.context.byKey['integrity_violation|audit-chain'], 'a2');
});

t.test('manager — a flood of distinct causes stays bounded: max_open incidents, then one escalated overflow incident counts the rest', async (t) => {
  let [s]: [MSnap, unknown] = initialTransition(managerMachine, { policy, restored: [] });
  let a;
  let opened = 0;
  for (let i = 0; i < 10_000; i++) {
    [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ key: `k${i}`, at: 1000 + i }), id: `i${i}` }));
    opened += spawned(a).length;
  }
  t.equal(opened, 4, 'three incidents and the overflow one');
  t.equal(Object.keys(s.context.live).length, 4);
  t.equal(Object.keys(s.context.byKey).length, 3);
  t.equal(s.context.overflow, 'i3');
  t.equal(sentTo(a!)[0]?.event.type, 'incident.flood');
  // The overflow's spawn input: escalated, no containment.
  [s] = initialTransition(managerMachine, { policy, restored: [] });
  for (let i = 0; i < 4; i++) [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ key: `k${i}` }), id: `i${i}` }));
  t.match(spawned(a!)[0]?.input, { escalate: /incident flood/, actions: [] });
  // A closed incident frees a place.
  [s] = transition(managerMachine, s, ev({ type: 'xstate.done.actor.i0', output: { id: 'i0' } }));
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ key: 'new' }), id: 'n1' }));
  t.equal(spawned(a)[0]?.id, 'n1');
  [s] = transition(managerMachine, s, ev({ type: 'incident.closed', id: 'i3' }));
  t.equal(s.context.overflow, null);
});

t.test('manager — N tool-call denies within W ms are one tool_call_burst detection; spread-out denies are not', async (t) => {
  let [s]: [MSnap, unknown] = initialTransition(managerMachine, { policy, restored: [] });
  let a;
  for (const at of [0, 2000, 4000, 6000]) [s, a] = transition(managerMachine, s, ev({ type: 'incident.tool_denied', tool: 'read_file', rule: 'r', at, id: `d${at}` }));
  t.same(spawned(a!), []);
  t.equal(Object.keys(s.context.live).length, 0);
  t.ok(s.context.denies.length <= 3, 'the window holds at most N times');
  [s] = transition(managerMachine, s, ev({ type: 'incident.tool_denied', tool: 'read_file', rule: 'r', at: 6100, id: 'e1' }));
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.tool_denied', tool: 'write_file', rule: 'deny-etc', at: 6200, id: 'e2' }));
  const [burst] = spawned(a);
  t.equal(burst?.id, 'e2');
  t.match(burst?.input?.detection, { class: 'tool_call_burst', key: 'tool-firewall', evidence: { denies: 3, windowMs: 1000, lastTool: 'write_file', lastRule: 'deny-etc' } });
  t.same(s.context.denies, []);
});

t.test('manager — ack/resolve go only to a live incident; restored incidents are spawned again and routed by their cause', async (t) => {
  const [c] = initialTransition(incidentMachine, input({ actions: [] }));
  let [s, a]: [MSnap, readonly unknown[]] = initialTransition(managerMachine, { policy, restored: [{ state: 'contained', context: c.context }] });
  t.equal(spawned(a)[0]?.id, 'i1');
  t.equal(spawned(a)[0]?.input?.restore?.state, 'contained');
  t.equal(s.context.byKey['integrity_violation|audit-chain'], 'i1');
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.detect', detection: det({ at: 1500 }), id: 'zz' }));
  t.same(spawned(a), [], 'a restored incident still deduplicates its cause');
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.ack', id: 'nope', by: 'op', note: '', at: 1 }));
  t.same(sentTo(a), []);
  [s, a] = transition(managerMachine, s, ev({ type: 'incident.ack', id: 'i1', by: 'op', note: '', at: 1 }));
  t.equal(sentTo(a)[0]?.event.type, 'incident.ack');
});
