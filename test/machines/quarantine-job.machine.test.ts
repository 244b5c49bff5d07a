// The quarantine job machine (one import's life) and the quarantine machine that spawns and queues them, computed with transition().
import t from 'tap';
import { createActor, fromCallback, fromPromise, initialTransition, transition, type SnapshotFrom } from 'xstate';
import { getSimplePaths } from '@xstate/graph';
import {
  jobMachine, phaseOf, quarantineMachine, stageOf, type JobInput, type JobRecord, type PipelineArtifact, type StageInput, type StageName,
  type StageResult, type Verdict,
} from '../../machines/quarantine/quarantine.machine.js';

const STAGES: StageName[] = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'];
const gguf: PipelineArtifact = { path: '/q/work/j1/m.gguf', kind: 'file', name: 'm.gguf', origin: { type: 'local' }, size: 10 };
const folder: PipelineArtifact = { path: '/q/work/j1/sd', kind: 'folder', name: 'sd', origin: { type: 'local' }, size: 10 };
const ticket = { id: 'dl1', url: 'https://huggingface.co/x/m.gguf', limit: 1000, length: 100 };

const input = (o: Partial<JobInput> = {}): JobInput => ({
  id: 'j1', artifact: gguf, policy: { allowWarn: ['source'], behavioral: 'optional' }, behavioralAvailable: true, download: null, ...o,
});
const urlInput = () => input({ download: ticket, artifact: { path: '', kind: 'file', name: 'm.gguf', origin: { type: 'url', url: ticket.url }, size: 100 } });
const r = (stage: StageName, verdict: Verdict): StageResult => ({ stage, verdict, reason: `${stage} ${verdict}`, evidence: stage === 'format' ? { container: 'gguf' } : {}, durationMs: 1 });
const done = (id: string, output: unknown) => ({ type: `xstate.done.actor.${id}`, output }) as never;
const fail = (id: string, error: unknown) => ({ type: `xstate.error.actor.${id}`, error }) as never;
const ev = (e: Record<string, unknown>) => e as never;

type Snap = SnapshotFrom<typeof jobMachine>;
const value = (s: Snap) => JSON.stringify(s.value);

/** Drives a queued job through its scan: each stage answers with `verdicts[stage]` (default pass), promotion succeeds. */
function scan(s: Snap, verdicts: Partial<Record<StageName, Verdict | 'throw'>> = {}): { snap: Snap; seen: string[] } {
  const seen: string[] = [];
  [s] = transition(jobMachine, s, ev({ type: 'job.start' }));
  for (let i = 0; i < 12 && s.status === 'active'; i++) {
    seen.push(value(s));
    if (String(s.value) === 'promoting') { [s] = transition(jobMachine, s, done('promote', { path: 'm.gguf' })); continue; }
    const stage = stageOf(s.value) as StageName;
    const v = verdicts[stage] ?? 'pass';
    [s] = transition(jobMachine, s, v === 'throw' ? fail(stage, new Error('parser crashed')) : done(stage, r(stage, v)));
  }
  return { snap: s, seen };
}

t.test('quarantine job — a URL import: downloading, queued (the parent is told), then one state per stage to promoted', async (t) => {
  let [s, actions] = initialTransition(jobMachine, urlInput());
  t.same(s.value, { downloading: 'receiving' });
  t.equal(phaseOf(s.value), 'downloading');
  t.ok(actions.some((a) => a.type === 'xstate.spawnChild' && (a.params as { id?: string }).id === 'download'), 'the download effect is started');
  [s] = transition(jobMachine, s, ev({ type: 'job.progress', bytes: 50 }));
  t.equal(s.context.received, 50);
  [s] = transition(jobMachine, s, ev({ type: 'job.downloaded', artifact: { ...gguf, origin: { type: 'url', url: ticket.url } } }));
  t.equal(s.value, 'queued', 'queued (the quarantine machine hears it: see the queue tests below)');
  t.equal(s.context.job.artifact.path, gguf.path, 'the scan sees the downloaded file');
  const { snap, seen } = scan(s);
  t.same(seen, [...STAGES.filter((st) => st !== 'diffusion').map((st) => JSON.stringify({ scanning: st })), '"promoting"'], 'each stage run is a state the job passes through, in order (a file skips the diffusers stage)');
  t.same(scan(initialTransition(jobMachine, input({ artifact: folder }))[0]).seen.map((v) => stageOf(JSON.parse(v))), [...STAGES.filter((st) => st !== 'behavioral'), 'promote'], 'a folder runs diffusion, not behavioral');
  t.equal(snap.value, 'promoted');
  t.match(snap.output, { id: 'j1', outcome: 'promoted', entry: { path: 'm.gguf' } });
});

t.test('quarantine job — cancel while downloading: the airlock is asked, the pull ends, the job is cancelled (reported rejected, naming who)', async (t) => {
  let [s] = initialTransition(jobMachine, urlInput());
  [s] = transition(jobMachine, s, ev({ type: 'job.progress', bytes: 30 }));
  let actions;
  [s, actions] = transition(jobMachine, s, ev({ type: 'job.cancel', by: 'operator k1' }));
  t.same(s.value, { downloading: 'cancelling' });
  t.ok(actions.some((a) => a.type === 'xstate.spawnChild' && (a.params as { id?: string }).id === 'cancelDownload'), 'the cancel effect runs');
  [s] = transition(jobMachine, s, done('cancelDownload', undefined));
  t.same(s.value, { downloading: 'cancelRequested' }, 'the airlock agreed; the pull has yet to stop');
  [s] = transition(jobMachine, s, ev({ type: 'job.download_failed', message: 'cancelled', code: 'SECAI_E_CANCELLED', bytes: 42, durationMs: 5 }));
  t.equal(s.value, 'cancelled');
  t.equal(s.status, 'done');
  t.match(s.output, { outcome: 'rejected', reason: /^download cancelled by operator k1 after 42 bytes/ });
  t.match(s.output?.results, [{ stage: 'source', verdict: 'fail', evidence: { bytes: 42, url: ticket.url } }]);

  // A pull that won the race still ends cancelled: nothing is scanned.
  [s] = initialTransition(jobMachine, urlInput());
  [s] = transition(jobMachine, s, ev({ type: 'job.cancel', by: 'the web UI' }));
  [s] = transition(jobMachine, s, done('cancelDownload', undefined));
  [s] = transition(jobMachine, s, ev({ type: 'job.downloaded', artifact: gguf }));
  t.equal(s.value, 'cancelled');
  t.match(s.output, { outcome: 'rejected', reason: /cancelled by the web UI/ });
});

t.test('quarantine job — an airlock that refuses the cancel leaves the download going and says why; queued jobs ignore cancel', async (t) => {
  let [s] = initialTransition(jobMachine, urlInput());
  [s] = transition(jobMachine, s, ev({ type: 'job.cancel', by: 'x' }));
  [s] = transition(jobMachine, s, fail('cancelDownload', new Error('airlock unavailable')));
  t.same(s.value, { downloading: 'receiving' });
  t.equal(s.context.cancelError, 'airlock unavailable');
  t.equal(s.context.cancelledBy, null);
  [s] = initialTransition(jobMachine, input());
  t.equal(s.value, 'queued');
  [s] = transition(jobMachine, s, ev({ type: 'job.cancel', by: 'x' }));
  t.equal(s.value, 'queued', 'a queued job is not cancelled (only a download is)');
});

t.test('quarantine job — a failed download is a rejection by the source stage', async (t) => {
  let [s] = initialTransition(jobMachine, urlInput());
  [s] = transition(jobMachine, s, ev({ type: 'job.download_failed', message: 'the download does not match', code: 'SECAI_E_DIGEST_MISMATCH', bytes: 7, durationMs: 3 }));
  t.equal(s.value, 'rejected');
  t.match(s.output, { outcome: 'rejected', reason: /^download failed: the download does not match/, results: [{ stage: 'source', verdict: 'fail', evidence: { code: 'SECAI_E_DIGEST_MISMATCH', bytes: 7 } }] });
});

t.test('quarantine job — fail closed: an error in any stage is a rejection that names the stage, and nothing runs after it', async (t) => {
  for (const stage of STAGES) {
    const start = stage === 'diffusion' ? input({ artifact: folder }) : input();
    const [q] = initialTransition(jobMachine, start);
    for (const how of ['throw', 'error'] as const) {
      const { snap, seen } = scan(q, { [stage]: how });
      t.equal(snap.value, 'rejected', `${stage} ${how}`);
      t.equal(seen[seen.length - 1], JSON.stringify({ scanning: stage }), `${stage} is the last state`);
      t.match(snap.output?.reason, new RegExp(`^${stage}: error`), `the reason names ${stage}`);
      t.match(snap.output?.results.at(-1), { stage, verdict: 'error' });
    }
  }
});

t.test('quarantine job — graph: every path ends promoted, rejected, held or cancelled, every stage state is reachable', async (t) => {
  const verdicts: Verdict[] = ['pass', 'fail', 'error'];
  const events = [
    ...STAGES.flatMap((st) => verdicts.map((v) => done(st, r(st, v)))),
    ...STAGES.map((st) => fail(st, new Error('x'))),
    done('promote', { path: 'm' }), fail('promote', new Error('x')),
    ev({ type: 'job.progress', bytes: 1 }), ev({ type: 'job.downloaded', artifact: gguf }),
    ev({ type: 'job.download_failed', message: 'x', code: 'SECAI_E_EGRESS_FAILED', bytes: 1, durationMs: 1 }),
    ev({ type: 'job.cancel', by: 'x' }), done('cancelDownload', undefined), fail('cancelDownload', new Error('x')),
    ev({ type: 'job.start' }),
  ];
  const paths = getSimplePaths(jobMachine, { events, input: urlInput() } as never);
  const finals = paths.filter((p) => (p.state as Snap).status === 'done');
  const ends = new Set(finals.map((p) => String((p.state as Snap).value)));
  t.same([...ends].sort(), ['cancelled', 'promoted', 'rejected'], 'a file whose runner exists is never held');
  const folderPaths = getSimplePaths(jobMachine, { events, input: input({ artifact: folder }) } as never);
  const visited = new Set([...paths, ...folderPaths].flatMap((p) => p.steps.map((x) => value(x.state as Snap))));
  for (const st of STAGES) t.ok(visited.has(JSON.stringify({ scanning: st })), `${st} is a state a job can be in`);
  for (const p of finals) {
    const s = p.state as Snap;
    if (s.value === 'promoted') t.ok(s.context.results.every((x) => x.verdict === 'pass'), 'promoted only on acceptable verdicts');
    if (s.context.results.some((x) => x.verdict === 'fail' || x.verdict === 'error')) t.not(s.value, 'promoted');
  }
  const held = getSimplePaths(jobMachine, { events, input: input({ behavioralAvailable: false, policy: { allowWarn: [], behavioral: 'required' } }) } as never);
  t.ok(held.some((p) => (p.state as Snap).value === 'held'), 'behavioral required without a runner: held');
});

const report = (id: string): JobRecord => ({
  id, name: `${id}.gguf`, kind: 'file', origin: { type: 'local' }, size: 1, state: null, reason: 'waiting for the scanner', results: [], entry: null,
  queuedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, location: `quarantine/work/${id}`,
});

t.test('quarantine machine — spawns a job machine per import, scans one at a time, a crashing stage rejects that job only', async (t) => {
  const finished: [string, string][] = [];
  const tracked: string[] = [];
  let running = 0, maxRunning = 0;
  const pass = (stage: StageName) => fromPromise<StageResult, StageInput>(async ({ input }) => {
    running++; maxRunning = Math.max(maxRunning, running);
    await Promise.resolve();
    running--;
    if (input.id === 'crash' && stage === 'format') throw new Error('parser crashed');
    return r(stage, 'pass');
  });
  const m = quarantineMachine.provide({
    actors: {
      job: jobMachine.provide({
        actors: {
          sourceStage: pass('source'), formatStage: pass('format'), integrityStage: pass('integrity'), provenanceStage: pass('provenance'),
          staticScanStage: pass('static_scan'), behavioralStage: pass('behavioral'), diffusionStage: pass('diffusion'),
          promote: fromPromise<Record<string, unknown>, StageInput>(async ({ input }) => ({ path: input.artifact.name })),
          download: fromCallback(() => {}),
        },
      }),
    },
    actions: {
      reportTracked: (_, p) => { tracked.push(`${p.report.id}:${p.state}`); },
      reportFinished: (_, p) => { finished.push([p.output.id, p.report?.state ?? 'missing']); },
    },
  });
  const a = createActor(m, { input: { reports: {} } }).start();
  for (const id of ['a', 'crash', 'b']) a.send({ type: 'quarantine.create', report: report(id), job: input({ id }) });
  t.same(Object.keys(a.getSnapshot().children).sort(), ['a', 'b', 'crash'], 'one job machine per import');
  t.same(a.getSnapshot().context.running, ['a'], 'one scan at a time');
  await new Promise<void>((res) => { const sub = a.subscribe((s) => { if (s.context.done === 3) { sub.unsubscribe(); res(); } }); });
  const snap = a.getSnapshot();
  a.stop();
  t.same(tracked, ['a:queued', 'crash:queued', 'b:queued']);
  t.same(finished, [['a', 'promoted'], ['crash', 'rejected'], ['b', 'promoted']], 'the finish effect sees the report with its verdict');
  t.match(snap.context.reports['crash'], { state: 'rejected', reason: /^format: error/, location: 'quarantine/rejected/crash' });
  t.match(snap.context.reports['a'], { state: 'promoted', location: 'registry/m.gguf' });
  t.equal(maxRunning, 1, 'one stage at a time');
  t.same(Object.keys(snap.children), [], 'finished job machines are gone; their reports stay');
});

t.test('quarantine machine — a download that arrives updates its report and is announced again; unknown ids change nothing', async (t) => {
  const tracked: string[] = [];
  const m = quarantineMachine.provide({
    actors: { job: jobMachine.provide({ actors: { download: fromCallback(() => {}), sourceStage: fromPromise(() => new Promise<StageResult>(() => {})) } }) },
    actions: { reportTracked: (_, p) => { tracked.push(`${p.report.id}:${p.state}:${p.report.size}`); } },
  });
  const a = createActor(m, { input: undefined }).start();
  a.send({ type: 'quarantine.create', report: { ...report('u'), location: null, size: 100 }, job: { ...urlInput(), id: 'u' } });
  a.send({ type: 'quarantine.cancel', id: 'nope', by: 'x' });
  a.send({ type: 'quarantine.purged', id: 'nope', purged: { at: 'now', bytes: 1, by: 'x' } });
  t.same(Object.keys(a.getSnapshot().context.reports), ['u']);
  t.equal(a.getSnapshot().status, 'active', 'a cancel or purge for an unknown job does not stop the quarantine machine');
  const child = a.getSnapshot().children['u']!;
  child.send({ type: 'job.downloaded', artifact: { ...gguf, size: 123 } });
  t.same(tracked, ['u:downloading:100', 'u:queued:123']);
  t.match(a.getSnapshot().context.reports['u'], { size: 123, location: 'quarantine/work/u', state: null });
  t.same(a.getSnapshot().context.running, ['u']);
  t.equal(phaseOf(child.getSnapshot().value), 'scanning');
  a.stop();
});
