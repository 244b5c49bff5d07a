// A flood of imports with hostile names: the quarantine's published snapshot (jobs included) stays bounded, parseable and path-free.
import t from 'tap';
import { createActor, fromCallback, fromPromise } from 'xstate';
import { encode } from '../../bus/codec.js';
import { parseStateMessage } from '../../bus/state-message.js';
import { jobMachine, quarantineMachine, type JobRecord, type StageResult } from '../../machines/quarantine/quarantine.machine.js';
import { publicContext, publicJob } from '../../actors/quarantine/public-view.js';
import { MAX_PUBLISHED_CHILDREN, publicChildren } from '../../runtime/host.js';

const SECRET = '/var/lib/secure-ai/quarantine/work';
const hostile = (i: number) => `<img src=x onerror=alert(${i})>${'\u202e'.repeat(3)}${'A'.repeat(400)}.gguf`;

function record(id: string, name: string, o: Partial<JobRecord> = {}): JobRecord {
  return { id, name, kind: 'file', origin: { type: 'local' }, size: 1, state: null, reason: 'waiting', results: [], entry: null, queuedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, location: `${SECRET}/${id}`, ...o };
}

t.test('quarantine flood — 300 jobs at once: the published snapshot carries at most the cap of job machines, bounded names, no paths', async (t) => {
  const m = quarantineMachine.provide({
    actors: { job: jobMachine.provide({ actors: { download: fromCallback(() => {}), sourceStage: fromPromise(() => new Promise<StageResult>(() => {})) } }) },
  });
  // 1000 earlier reports on disk: the snapshot names only the last few of them.
  const old: Record<string, JobRecord> = {};
  for (let i = 0; i < 1000; i++) old[`old${i}`] = record(`old${i}`, hostile(i), { state: 'rejected', finishedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() });
  const a = createActor(m, { input: { reports: old } }).start();
  t.teardown(() => a.stop());
  for (let i = 0; i < 300; i++) {
    const id = `q${i}`;
    const artifact = { path: `${SECRET}/${id}/${hostile(i)}`, kind: 'file' as const, name: hostile(i), origin: { type: 'url' as const, url: 'https://huggingface.co/x' }, size: 1 };
    a.send({
      type: 'quarantine.create', report: record(id, hostile(i), { location: null }),
      job: { id, artifact, policy: { allowWarn: [], behavioral: 'off' }, behavioralAvailable: false, download: i % 2 ? { id: `d${i}`, url: 'https://huggingface.co/x', limit: 1 } : null },
    });
  }
  const snap = a.getSnapshot();
  t.equal(Object.keys(snap.context.reports).length, 1000, 'the report map stays at its cap: the oldest finished reports go');
  t.ok(Array.from({ length: 300 }, (_, i) => `q${i}`).every((id) => snap.context.reports[id]), 'no running job loses its report');
  t.equal(Object.keys(snap.children).length, 300, 'every job has its machine');
  const children = publicChildren(snap.children, publicJob);
  t.equal(children.length, MAX_PUBLISHED_CHILDREN, 'only the cap of job machines is published');
  const context = { ...publicContext(snap.context), children };
  const message = { actor: 'quarantine', value: snap.value, status: snap.status, event: 'quarantine.create', seq: 1, at: Date.now(), context };
  const bytes = encode(message);
  t.ok(bytes.byteLength < 64 * 1024, `published snapshot is ${bytes.byteLength} bytes`);
  const parsed = parseStateMessage('secai.state.quarantine', bytes);
  t.equal(parsed.actor, 'quarantine', 'the gateway accepts it');
  const json = JSON.stringify(context);
  t.notOk(json.includes(SECRET), 'no path leaves the process');
  const names = [...children.map((c) => (c['context'] as { name: string }).name), ...(context.finished as { name: string }[]).map((f) => f.name)];
  t.ok(names.every((n) => n.length <= 255), 'names are bounded');
  t.equal(context.finished.length, 5, 'only the last finished reports are named');
});
