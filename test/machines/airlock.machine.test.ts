// The airlock machine's containment paths, computed with transition(): no effects, no bus.
import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { airlockMachine } from '../../machines/airlock/airlock.machine.js';

const on = { type: 'airlock.policy', enabled: true, digest: 'd1' } as const;
const contain = { type: 'airlock.contain', incidentId: 'inc-1', reason: 'r', at: 1 } as const;

t.test('airlock machine — a containment holds through policy reloads and ends only with airlock.enable, back to what the policy says', async (t) => {
  const [s0] = initialTransition(airlockMachine, { containment: null });
  const [enabled] = transition(airlockMachine, s0, on);
  t.equal(enabled.value, 'enabled');
  const [c1] = transition(airlockMachine, enabled, contain);
  t.equal(c1.value, 'contained');
  const [c2] = transition(airlockMachine, c1, { ...contain, incidentId: 'inc-2' });
  t.equal(c2.context.containment?.incidentId, 'inc-1', 'a second containment keeps the first record');
  const [c3] = transition(airlockMachine, c2, { type: 'airlock.policy', enabled: true, digest: 'd2' });
  t.equal(c3.value, 'contained', 'a reload that enables egress does not end a containment');
  t.equal(c3.context.policyDigest, 'd2', 'but the policy is followed');
  const [back] = transition(airlockMachine, c3, { type: 'airlock.enable' });
  t.equal(back.value, 'enabled');
  t.equal(back.context.containment, null);
  const [off] = transition(airlockMachine, c3, { type: 'airlock.policy', enabled: false, digest: 'd3' });
  t.equal(transition(airlockMachine, off, { type: 'airlock.enable' })[0].value, 'disabled', 'enable returns to a policy that is off');
  t.equal(transition(airlockMachine, enabled, { type: 'airlock.enable' })[0].value, 'enabled', 'enable without a containment changes nothing');
});

t.test('airlock machine — a containment found on disk at start: contained before anything else', async (t) => {
  const [s0] = initialTransition(airlockMachine, { containment: { incidentId: 'inc-9', reason: 'before the crash', at: 5 } });
  t.equal(s0.value, 'contained');
  t.equal(transition(airlockMachine, s0, on)[0].value, 'contained', 'the first policy does not release it');
});
