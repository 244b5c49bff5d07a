// The UI's pure helpers: audit-tap subject filters and statechart labels/active states.
import t from 'tap';
import { subjectActor, subjectMatches } from '../../ui/src/subject-filter.js';
import { activeIds, selfTransitions, shortLabel, type GraphNode } from '../../ui/src/chart-model.js';

t.test('ui filters — NATS-style subject patterns', async (t) => {
  t.ok(subjectMatches('', 'secai.cmd.audit.verify'));
  t.ok(subjectMatches('secai.cmd.>', 'secai.cmd.audit.verify'));
  t.notOk(subjectMatches('secai.cmd.>', 'secai.cmd'), '> needs at least one more token');
  t.ok(subjectMatches('secai.*.audit.verify', 'secai.cmd.audit.verify'));
  t.notOk(subjectMatches('secai.*.audit', 'secai.cmd.audit.verify'), 'a shorter pattern without > does not match');
  t.notOk(subjectMatches('secai.evt.*.chain_verified', 'secai.cmd.audit.verify'));
  t.notOk(subjectMatches('secai.cmd.audit.verify.x', 'secai.cmd.audit.verify'));
  t.ok(subjectMatches('  secai.evt.audit.chain_verified ', 'secai.evt.audit.chain_verified'), 'trimmed');
});

t.test('ui filters — the actor of a subject', async (t) => {
  t.equal(subjectActor('secai.cmd.audit.verify'), 'audit');
  t.equal(subjectActor('secai.evt.quarantine.stage'), 'quarantine');
  t.equal(subjectActor('secai.vault.status'), 'vault');
  t.equal(subjectActor('x'), '');
});

t.test('ui chart — labels, active states, targetless transitions', async (t) => {
  t.equal(shortLabel('xstate.done.actor.verifyChain'), 'done: verifyChain');
  t.equal(shortLabel('xstate.error.actor.listen'), 'error: listen');
  t.equal(shortLabel('xstate.after.verifyInterval.audit.following'), 'after verifyInterval');
  t.equal(shortLabel('audit.verify'), 'audit.verify');
  t.same([...activeIds('m', 'idle')].sort(), ['m', 'm.idle']);
  t.same([...activeIds('m', { run: { scan: 'hashing' }, net: 'off' })].sort(), ['m', 'm.net', 'm.net.off', 'm.run', 'm.run.scan', 'm.run.scan.hashing']);
  t.same([...activeIds('m', null)], ['m']);
  const g: GraphNode = {
    id: 'a', key: 'a', type: 'compound', children: [
      { id: 'a.x', key: 'x', type: 'atomic', children: [], edges: [{ id: '1', source: 'a.x', target: 'a.x', label: 'tick' }, { id: '2', source: 'a.x', target: 'a', label: 'go' }] },
    ],
    edges: [{ id: '0', source: 'a', target: 'a', label: 'audit.appended' }],
  };
  t.same(selfTransitions(g), [{ state: 'a', label: 'audit.appended' }, { state: 'x', label: 'tick' }]);
});
