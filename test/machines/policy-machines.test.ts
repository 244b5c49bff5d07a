// The policy, airlock and tool-firewall machines, by pure transitions (no effects run).
import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { policyMachine } from '../../machines/policy/policy.machine.js';
import { airlockMachine } from '../../machines/airlock/airlock.machine.js';
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';

const loaded = (digest: string) => ({ digest, path: '/p/policy.yaml', loadedAt: 1000, value: { v: digest } });
const input = { current: loaded('d1') };
type PSnap = ReturnType<typeof initialTransition<typeof policyMachine>>[0];
type PEvent = Parameters<typeof transition<typeof policyMachine>>[2];
const emitted = (actions: { type: string }[]) => actions.filter((a) => a.type === 'xstate.emit').map((a) => (a as unknown as { params: { event: { requestId: string; ok: boolean; data: unknown } } }).params.event);
const pstep = (s: PSnap, e: PEvent | { type: string; [k: string]: unknown }) => transition(policyMachine, s, e as PEvent);

t.test('policy machine — the policy in force is in the context from the start; serving → reloading on policy.reload', async (t) => {
  const [s0, a0] = initialTransition(policyMachine, input);
  t.equal(s0.value, 'serving');
  t.equal(s0.context.digest, 'd1');
  t.equal(s0.context.current.digest, 'd1');
  t.ok(a0.some((a) => a.type === 'xstate.spawnChild'), 'the allow-summary ticker is invoked, not run');
  const [s1, actions] = pstep(s0, { type: 'policy.reload', requestId: 'r' });
  t.equal(s1.value, 'reloading');
  t.ok(actions.some((a) => (a as { type?: string }).type === 'xstate.spawnChild'), 'the reload effect is declared, not run');
  const [, busy] = pstep(s1, { type: 'policy.reload', requestId: 'r2' });
  t.same(emitted(busy).map((e) => [e.requestId, e.ok]), [['r2', false]], 'a second reload meanwhile is refused, not lost');
});

t.test('policy machine — a good reload swaps the policy and digest in one step; a bad one (or a failing effect) keeps both', async (t) => {
  const [s0] = initialTransition(policyMachine, input);
  const [s1] = pstep(s0, { type: 'policy.reload', requestId: 'r' });
  const [good, ga] = pstep(s1, { type: 'xstate.done.actor.loadPolicy', output: { result: { ok: true, digest: 'd2', previous: 'd1' }, loaded: loaded('d2') } });
  t.same([good.value, good.context.digest, good.context.current.digest, good.context.reloads], ['serving', 'd2', 'd2', 1]);
  t.ok(ga.some((a) => a.type === 'reportReload'));
  t.same(emitted(ga), [{ type: 'reply', requestId: 'r', ok: true, data: { ok: true, digest: 'd2', previous: 'd1' } }]);
  const [bad] = pstep(s1, { type: 'xstate.done.actor.loadPolicy', output: { result: { ok: false, error: 'policy.yaml:3: bad', kept: 'd1' } } });
  t.same([bad.context.digest, bad.context.current.digest], ['d1', 'd1']);
  t.match(bad.context.lastReload, { ok: false, kept: 'd1' });
  const [thrown, ta] = pstep(s1, { type: 'xstate.error.actor.loadPolicy', error: new Error('disk gone') });
  t.equal(thrown.context.digest, 'd1');
  t.match(thrown.context.lastReload, { ok: false, error: 'disk gone', kept: 'd1' });
  t.equal(ta.filter((a) => a.type === 'reportReload').length, 1, 'reported once');
});

t.test('policy machine — allows are tallied per (domain, rule) and handed over per window; denies are reported at once', async (t) => {
  let [s] = initialTransition(policyMachine, input);
  let a: { type: string }[];
  for (const rule of ['r1', 'r1', 'r2']) [s] = pstep(s, { type: 'policy.decided', result: { domain: 'egress', rule, decision: 'allow' } });
  [s, a] = pstep(s, { type: 'policy.decided', result: { domain: 'egress', rule: 'r3', decision: 'deny' } });
  t.ok(a.some((x) => x.type === 'reportDecision'));
  t.same(Object.values(s.context.allows.counts).map((c) => [c.rule, c.n]), [['r1', 2], ['r2', 1]]);
  [s, a] = pstep(s, { type: 'policy.flush', now: 5000 });
  t.ok(a.some((x) => x.type === 'reportAllows'), 'the ticker\'s flush publishes');
  t.same(s.context.allows, { since: 5000, counts: {} }, 'and a new window starts');
  [s] = pstep(s, { type: 'policy.decided', result: { domain: 'tool_access', rule: 'x', decision: 'allow' } });
  [, a] = pstep(s, { type: 'policy.flush', now: 6000, requestId: 'stop' });
  t.same(emitted(a), [{ type: 'reply', requestId: 'stop', ok: true, data: { since: 5000, until: 6000, policyDigest: 'd1', counts: [{ domain: 'tool_access', rule: 'x', n: 1 }] } }], 'asked at stop, the summary is the answer');
});

t.test('airlock machine — follows the policy: disabled ⇄ enabled; counts requests and denials', async (t) => {
  const [s0] = initialTransition(airlockMachine);
  t.equal(s0.value, 'disabled');
  const [s1] = transition(airlockMachine, s0, { type: 'airlock.policy', enabled: false, digest: 'a' });
  t.equal(s1.value, 'disabled');
  t.equal(s1.context.policyDigest, 'a');
  const [s2] = transition(airlockMachine, s1, { type: 'airlock.policy', enabled: true, digest: 'b' });
  t.equal(s2.value, 'enabled');
  const [s3] = transition(airlockMachine, s2, { type: 'airlock.request', allowed: false });
  const [s4] = transition(airlockMachine, s3, { type: 'airlock.request', allowed: true });
  t.same([s4.context.requests, s4.context.denied], [2, 1]);
  const [s5] = transition(airlockMachine, s4, { type: 'airlock.policy', enabled: false, digest: 'c' });
  t.equal(s5.value, 'disabled');
  t.equal(s5.context.policyDigest, 'c');
});

t.test('tool firewall machine — counts checks, denials and asks', async (t) => {
  let [s] = initialTransition(toolFirewallMachine);
  for (const decision of ['allow', 'deny', 'ask', 'deny'] as const) [s] = transition(toolFirewallMachine, s, { type: 'firewall.checked', decision });
  t.same([s.context.checks, s.context.denied, s.context.asked], [4, 2, 1]);
  t.equal(s.value, 'serving');
});

t.test('tool-firewall machine — the rate buckets live in the context: a burst, then refused, refilled with time, reset by a new rate', async (t) => {
  let [s] = initialTransition(toolFirewallMachine);
  const take = (now: number, capacity = 2, refillPerSec = 1) => {
    const [next, actions] = transition(toolFirewallMachine, s, { type: 'firewall.take', key: 'fs.read', capacity, refillPerSec, now, requestId: 'q' });
    s = next;
    return (actions.find((a) => (a.type as string) === 'xstate.emit') as unknown as { params: { event: { data: boolean } } }).params.event.data;
  };
  t.same([take(0), take(0), take(0)], [true, true, false], 'a burst of capacity, then refused');
  t.equal(take(999), false, 'not yet a whole token back');
  t.equal(take(1000), true, 'one token per second');
  t.equal(take(1000, 5, 1), true, 'a changed rate starts the bucket afresh');
  t.equal(s.context.buckets['fs.read']?.tokens, 4);
});

t.test('airlock machine — holds the policy it fetched (private) and the downloads handle it was started with', async (t) => {
  const [s0] = initialTransition(airlockMachine);
  const [s1] = transition(airlockMachine, s0, { type: 'airlock.policy', enabled: true, digest: 'd', value: { airlock: { enabled: true } } });
  t.same(s1.context.policy, { digest: 'd', value: { airlock: { enabled: true } } });
  const handle = { cancelAll() {} };
  const [s2] = transition(airlockMachine, s1, { type: 'airlock.started', sections: null, downloads: handle });
  t.equal(s2.context.downloads, handle);
  t.equal(s2.value, 'enabled');
});
