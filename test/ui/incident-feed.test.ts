// The Security page's live incident list: a list read after the stream is live, with the transitions that arrived meanwhile applied on top in order.
import t from 'tap';
import { emptyFeed, nextActs, withEvent, withList, type IncidentEvent, type IncidentSummary } from '../../ui/src/incident-feed.js';

const inc = (id: string, state: IncidentSummary['state'], lastSeen: number, count = 1): IncidentSummary => ({
  id, class: 'unauthorized_access', key: `k-${id}`, severity: 'high', state, summary: id, count, firstSeen: 0, lastSeen, steps: [], escalation: null, target: {},
});
const ev = (kind: IncidentEvent['kind'], i: IncidentSummary): IncidentEvent => ({ kind, incident: i, reason: kind });

t.test('ui incident feed — events before the list arrive are kept and win over the list, in their order', async (t) => {
  let f = emptyFeed();
  f = withEvent(f, ev('acknowledged', inc('inc-aaaaaaaa', 'acknowledged', 10)));
  f = withEvent(f, ev('resolved', inc('inc-aaaaaaaa', 'resolved', 10)));
  t.equal(f.incidents, null, 'nothing shown before the list');
  f = withList(f, [inc('inc-aaaaaaaa', 'contained', 10), inc('inc-bbbbbbbb', 'open', 20)]);
  t.same(f.incidents!.map((i) => [i.id, i.state]), [['inc-bbbbbbbb', 'open'], ['inc-aaaaaaaa', 'resolved']], 'the last event is the state; newest first');
  t.same(f.pending, [], 'the buffer is drained');
});

t.test('ui incident feed — a new incident and a count update apply to the shown list; one row per incident', async (t) => {
  let f = withList(emptyFeed(), [inc('inc-aaaaaaaa', 'contained', 10)]);
  f = withEvent(f, ev('opened', inc('inc-cccccccc', 'open', 30)));
  f = withEvent(f, ev('updated', inc('inc-aaaaaaaa', 'contained', 40, 2)));
  t.same(f.incidents!.map((i) => [i.id, i.count]), [['inc-aaaaaaaa', 2], ['inc-cccccccc', 1]]);
});

t.test('ui incident feed — what an operator may do next follows the incident machine', async (t) => {
  t.same(nextActs('open'), [], 'not while containment runs');
  t.same(nextActs('contained'), ['ack']);
  t.same(nextActs('escalated'), ['ack']);
  t.same(nextActs('acknowledged'), ['resolve']);
  t.same(nextActs('resolved'), []);
});
