// The incident machine takes an acknowledgement or a resolution from a web session (auth.incident_act) only in the
// exact `web operator (session <16 hex>)` form the incident actor writes; anything else with a space is refused, computed with transition().
import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { incidentMachine, webOperator, type IncidentInput } from '../../machines/incident/manager.machine.js';

const input: IncidentInput = {
  id: 'i1', severity: 'high', actions: [], escalateAfter: 3,
  detection: { class: 'unauthorized_access', key: 'command:k', summary: 'a replay', severity: 'high', evidence: {}, target: {}, at: 1000 },
};
const ev = (e: Record<string, unknown>) => e as never;

t.test('incident web operator — the exact form is an operator: ack then resolve, each recorded with who', async (t) => {
  let [s] = initialTransition(incidentMachine, input);
  t.equal(s.value, 'contained', 'no steps in policy: contained at once');
  const by = webOperator('0123456789abcdef');
  t.equal(by, 'web operator (session 0123456789abcdef)');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.ack', by, note: 'seen', at: 5 }));
  t.equal(s.value, 'acknowledged');
  [s] = transition(incidentMachine, s, ev({ type: 'incident.resolve', by, note: '', at: 6 }));
  t.equal(s.value, 'resolved');
  t.match(s.context.timeline.slice(-2), [{ state: 'acknowledged', by, note: 'seen' }, { state: 'resolved', by }]);
});

t.test('incident web operator — look-alikes are not operators: nothing changes', async (t) => {
  const [s0] = initialTransition(incidentMachine, input);
  for (const by of ['web operator (session 0123)', 'web operator (session 0123456789ABCDEF)', 'web operator (session 0123456789abcdef) ', 'web operator', 'someone (session 0123456789abcdef)', 'web operator (session 0123456789abcdef)\nx']) {
    const [s] = transition(incidentMachine, s0, ev({ type: 'incident.ack', by, note: '', at: 5 }));
    t.equal(s.value, 'contained', JSON.stringify(by));
  }
});
