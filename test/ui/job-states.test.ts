// The Machines page's quarantine jobs: read from the quarantine snapshot's public context, states kept in the order seen.
import t from 'tap';
import { jobsIn, nextJobs, stateLabel } from '../../ui/src/job-states.js';

const child = (id: string, value: unknown) => ({ id, value, status: 'active', context: { machine: 'job', name: `${id}.gguf`, stage: null } });

t.test('ui job states — labels for nested and flat state values', async (t) => {
  t.equal(stateLabel({ scanning: 'format' }), 'scanning.format');
  t.equal(stateLabel({ downloading: 'receiving' }), 'downloading.receiving');
  t.equal(stateLabel('promoted'), 'promoted');
  t.equal(stateLabel(null), '?');
});

t.test('ui job states — a job moves through stages, then ends with its outcome once its machine is gone', async (t) => {
  let jobs = nextJobs([], { children: [child('q1', 'queued')] });
  jobs = nextJobs(jobs, { children: [child('q1', { scanning: 'source' })] });
  jobs = nextJobs(jobs, { children: [child('q1', { scanning: 'source' })] });
  jobs = nextJobs(jobs, { children: [child('q1', { scanning: 'format' })] });
  jobs = nextJobs(jobs, { children: [], finished: [{ id: 'old', name: 'old', state: 'rejected' }, { id: 'q1', name: 'q1.gguf', state: 'promoted' }] });
  t.same(jobs.map((j) => [j.id, j.label, j.running]), [['q1', 'promoted', false]], 'a report the page never saw running is not shown');
  t.same(jobs[0]!.seen, ['queued', 'scanning.source', 'scanning.format', 'promoted'], 'no repeats in a row');
});

t.test('ui job states — malformed children and finished entries are skipped', async (t) => {
  const r = jobsIn({ children: [null, { id: 5 }, { id: 'x', value: 'queued', context: { machine: 'other' } }, { id: 'y'.repeat(65), value: 'q', context: { machine: 'job' } }, child('ok', 'queued')], finished: 'nope' });
  t.same(r.running.map((j) => j.id), ['ok']);
  t.same(r.finished, []);
  t.same(jobsIn(undefined), { running: [], finished: [] });
});
