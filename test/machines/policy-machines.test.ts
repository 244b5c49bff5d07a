// The policy, airlock and tool-firewall machines, by pure transitions (no effects run).
import t from 'tap';
import { createActor, fromPromise, initialTransition, transition } from 'xstate';
import { policyMachine, type ReloadResult } from '../../machines/policy/policy.machine.js';
import { airlockMachine } from '../../machines/airlock/airlock.machine.js';
import { toolFirewallMachine } from '../../machines/tool-firewall/tool-firewall.machine.js';

t.test('policy machine — serving → reloading on policy.reload; the first digest comes from policy.loaded', async (t) => {
  const [s0] = initialTransition(policyMachine);
  t.equal(s0.value, 'serving');
  const [s1] = transition(policyMachine, s0, { type: 'policy.loaded', digest: 'd1' });
  t.equal(s1.context.digest, 'd1');
  const [s2, actions] = transition(policyMachine, s1, { type: 'policy.reload' });
  t.equal(s2.value, 'reloading');
  t.ok(actions.some((a) => (a as { type?: string }).type === 'xstate.spawnChild'), 'the reload effect is declared, not run');
});

async function runReload(result: ReloadResult | Error) {
  const reports: (ReloadResult | null)[] = [];
  const m = policyMachine.provide({
    actors: { loadPolicy: fromPromise(async () => { if (result instanceof Error) throw result; return result; }) },
    actions: { reportReload: ({ context }) => { reports.push(context.lastReload); } },
  });
  const a = createActor(m).start();
  a.send({ type: 'policy.loaded', digest: 'old' });
  a.send({ type: 'policy.reload' });
  await new Promise<void>((r) => { const s = a.subscribe((snap) => { if (snap.matches('serving')) { s.unsubscribe(); r(); } }); });
  const snap = a.getSnapshot();
  a.stop();
  return { snap, reports };
}

t.test('policy machine — a good reload changes the digest; a bad one (or a failing effect) keeps it', async (t) => {
  const good = await runReload({ ok: true, digest: 'new', previous: 'old' });
  t.equal(good.snap.context.digest, 'new');
  t.equal(good.snap.context.reloads, 1);
  t.same(good.reports, [{ ok: true, digest: 'new', previous: 'old' }]);
  const bad = await runReload({ ok: false, error: 'policy.yaml:3: bad', kept: 'old' });
  t.equal(bad.snap.context.digest, 'old');
  t.match(bad.snap.context.lastReload, { ok: false, kept: 'old' });
  const thrown = await runReload(new Error('disk gone'));
  t.equal(thrown.snap.context.digest, 'old');
  t.match(thrown.snap.context.lastReload, { ok: false, error: 'disk gone', kept: 'old' });
  t.equal(thrown.reports.length, 1, 'reported once');
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
  t.same(s.context, { checks: 4, denied: 2, asked: 1 });
  t.equal(s.value, 'serving');
});
