// A job interrupted by a stop is not promoted on the next start: it is reported rejected and its copy filed with the rejected ones.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeAppliance, startAppliance, tempHome } from '../helpers/appliance.js';

t.test('quarantine restart — an interrupted job is rejected and moved out of work/', async (t) => {
  const home = tempHome();
  const id = 'qinterrupted0001';
  mkdirSync(join(home, 'quarantine', 'work', id), { recursive: true });
  writeFileSync(join(home, 'quarantine', 'work', id, 'half.gguf'), 'GGUF');
  mkdirSync(join(home, 'quarantine', 'reports'), { recursive: true });
  writeFileSync(join(home, 'quarantine', 'reports', `${id}.json`), JSON.stringify({
    id, name: 'half.gguf', kind: 'file', origin: { type: 'local' }, size: 4, state: 'scanning', reason: 'scanning', results: [], entry: null,
    queuedAt: new Date().toISOString(), finishedAt: null, location: `quarantine/work/${id}`,
  }));
  const app = await startAppliance({ home, timeoutMs: 120_000 });
  t.teardown(() => disposeAppliance(app));
  const job = app.ctl(['models', 'jobs', '--json']).json().jobs.find((j: { id: string }) => j.id === id);
  t.match(job, { state: 'rejected', reason: /interrupted/ });
  t.notOk(existsSync(join(home, 'quarantine', 'work', id)), 'nothing left in work/');
  t.ok(existsSync(join(home, 'quarantine', 'rejected', id, 'half.gguf')));
  t.match(JSON.parse(readFileSync(join(home, 'quarantine', 'rejected', id, 'report.json'), 'utf8')), { state: 'rejected' });
  t.equal(app.ctl(['models', 'report', id]).code, 1);
});
