// The Models page's decision to read the registry list again: the registry's own events, gaps and reconnections; nothing else.
import t from 'tap';
import { changesRegistry, initialWatch, watchRegistry, type LiveEvent, type WatchState } from '../../ui/src/registry-watch.js';

const audit = (subject: string): LiveEvent => ({ type: 'audit', record: { subject } });

t.test('ui registry watch — promoted and removed change the list; commands, other events and look-alikes do not', async (t) => {
  t.ok(changesRegistry({ subject: 'secai.evt.registry.promoted' }), 'promoted');
  t.ok(changesRegistry({ subject: 'secai.evt.registry.removed' }), 'removed (a web session or securectl models rm: the same event)');
  for (const subject of [
    'secai.cmd.registry.rm', // the command is not the fact: it may be refused
    'secai.evt.registry.verify_failed', // a failed check leaves the entry listed
    'secai.evt.quarantine.verdict',
    'secai.evt.auth.model_removal_refused',
    'secai.evt.registry.removed.extra',
    'secai.evt.registry',
    'secai.evt.registry.*',
    'secai.evt.registry.>',
    'xsecai.evt.registry.removed',
    'secai.evt.registry.Removed',
    '',
  ]) t.notOk(changesRegistry({ subject }), `${JSON.stringify(subject)} does not`);
});

t.test('ui registry watch — a stream of events: stale on registry events, a gap and a reconnection, not on the first connection', async (t) => {
  const steps: [LiveEvent, boolean][] = [
    [{ type: 'status', connected: false }, false], // subscribed before the stream opened
    [{ type: 'status', connected: true }, false], // first connection: the page has just read the list
    [audit('secai.evt.quarantine.stage'), false],
    [audit('secai.evt.registry.promoted'), true],
    [audit('secai.cmd.registry.rm'), false],
    [audit('secai.evt.registry.removed'), true],
    [{ type: 'gap' }, true], // records skipped in a burst may hide a removal
    [{ type: 'status', connected: false }, false],
    [{ type: 'status', connected: false }, false], // EventSource retries report errors again
    [{ type: 'status', connected: true }, true], // back: what was missed while down may include a change
    [{ type: 'status', connected: true }, false], // already connected: nothing new
  ];
  let w: WatchState = initialWatch;
  steps.forEach(([e, stale], i) => {
    const r = watchRegistry(w, e);
    t.equal(r.stale, stale, `step ${i}: ${JSON.stringify(e)} → ${stale ? 'stale' : 'current'}`);
    w = r.state;
  });
  t.same(w, { wasConnected: true, connected: true });
});

t.test('ui registry watch — a page that subscribes while the stream is already open does not reload on its first status', async (t) => {
  const r = watchRegistry(initialWatch, { type: 'status', connected: true });
  t.equal(r.stale, false);
  t.same(r.state, { wasConnected: true, connected: true });
  t.same(initialWatch, { wasConnected: false, connected: false }, 'the initial state is not changed in place');
});
