// Single use lives in the machines: the tool firewall's spent token nonces and the policy's spent approvals, by pure transitions.
import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { policyMachine } from '../../machines/policy/policy.machine.js';
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';

const replies = (actions: { type: string }[]) =>
  actions.filter((a) => a.type === 'xstate.emit').map((a) => (a as unknown as { params: { event: { data: unknown } } }).params.event.data);

t.test('tool-firewall machine — a token nonce is spent once, kept until its expiry, then pruned', async (t) => {
  let [s] = initialTransition(toolFirewallMachine);
  const spend = (nonce: string, expiresAt: number, now: number) => {
    const [next, actions] = transition(toolFirewallMachine, s, { type: 'firewall.spend', nonce, expiresAt, now, requestId: 'q' });
    s = next;
    return replies(actions as { type: string }[])[0];
  };
  t.equal(spend('n1', 61_000, 1000), 'ok');
  t.equal(spend('n1', 61_000, 2000), 'replayed', 'a second use is a replay');
  t.same(Object.keys(s.context.spent), ['n1']);
  t.equal(spend('n2', 130_000, 70_000), 'ok');
  t.same(Object.keys(s.context.spent), ['n2'], 'the expired nonce is pruned');
  [s] = transition(toolFirewallMachine, s, { type: 'firewall.called', ok: false });
  t.match(s.context, { calls: 1, refused: 1 });
});

t.test('policy machine — an operator approval is spent once', async (t) => {
  const loaded = { digest: 'd1', path: '/p', loadedAt: 0, value: {} };
  let [s] = initialTransition(policyMachine, { current: loaded });
  t.equal(s.context.capabilityKey, null);
  const use = (nonce: string, now: number) => {
    const [next, actions] = transition(policyMachine, s, { type: 'policy.approval', nonce, until: 60_000, now, requestId: 'q' });
    s = next;
    return replies(actions as { type: string }[])[0];
  };
  t.equal(use('a1', 1000), true);
  t.equal(use('a1', 2000), false, 'the same approval again is refused');
  t.equal(use('a2', 2000), true);
});
