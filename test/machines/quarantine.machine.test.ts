import t from 'tap';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { getSimplePaths } from '@xstate/graph';
import {
  pipelineMachine, type PipelineJob, type StageName, type StageResult, type Verdict,
} from '../../machines/quarantine/quarantine.machine.js';

const job = (o: Partial<PipelineJob> = {}, kind: 'file' | 'folder' = 'file'): PipelineJob => ({
  id: 'j1',
  artifact: { path: '/q/work/j1/m.gguf', kind, name: 'm.gguf', origin: { type: 'local' }, size: 10 },
  policy: { allowWarn: ['source', 'integrity', 'provenance'], behavioral: 'optional' },
  behavioralAvailable: false,
  ...o,
});
const r = (stage: StageName, verdict: Verdict, evidence: Record<string, unknown> = {}): StageResult => ({ stage, verdict, reason: `${stage} ${verdict}`, evidence, durationMs: 1 });
/** What stage 2 reports a file to be, as the real format stage does (`container`). */
const containerOf = (j: PipelineJob) => (j.artifact.kind === 'folder' ? 'folder' : j.artifact.name.endsWith('.safetensors') ? 'safetensors' : 'gguf');
const done = (stage: string, output: unknown) => ({ type: `xstate.done.actor.${stage}`, output }) as never;
const fail = (stage: string, error: unknown) => ({ type: `xstate.error.actor.${stage}`, error }) as never;

type Snap = SnapshotFrom<typeof pipelineMachine>;
function drive(j: PipelineJob, verdicts: Partial<Record<StageName, Verdict | 'throw'>>): { snap: Snap; invoked: string[]; recorded: string[] } {
  let [snap, actions] = initialTransition(pipelineMachine, j);
  const invoked: string[] = [];
  const recorded: string[] = [];
  const note = (acts: readonly unknown[]) => {
    for (const a of acts as { type: string; params?: { id?: string; result?: StageResult } }[]) {
      if (a.type === 'xstate.spawnChild') invoked.push(String(a.params?.id));
      if (a.type === 'stageRecorded') recorded.push(`${a.params!.result!.stage}:${a.params!.result!.verdict}`);
    }
  };
  note(actions);
  for (let i = 0; i < 12 && snap.status === 'active'; i++) {
    const stage = String(snap.value) as StageName | 'promoting';
    if (stage === 'promoting') { [snap, actions] = transition(pipelineMachine, snap, done('promote', { sha256: 'ab' })); note(actions); continue; }
    const v = verdicts[stage] ?? 'pass';
    const evidence = stage === 'format' ? { container: containerOf(j) } : {};
    [snap, actions] = transition(pipelineMachine, snap, v === 'throw' ? fail(stage, new Error('boom')) : done(stage, r(stage, v, evidence)));
    note(actions);
  }
  return { snap, invoked, recorded };
}

t.test('quarantine machine — every stage passes: promoted, stages run in order', async (t) => {
  const { snap, invoked, recorded } = drive(job(), {});
  t.equal(snap.value, 'promoted');
  t.equal(snap.status, 'done');
  t.same(invoked, ['source', 'format', 'integrity', 'provenance', 'static_scan', 'promote']);
  t.same(recorded, ['source:pass', 'format:pass', 'integrity:pass', 'provenance:pass', 'static_scan:pass', 'behavioral:pass', 'diffusion:pass']);
  t.match(snap.context.results.find((x) => x.stage === 'diffusion'), { evidence: { skipped: true }, reason: /not applicable/ });
  t.same(snap.output?.outcome, 'promoted');
});

t.test('quarantine machine — a fail at any stage rejects and runs nothing after it', async (t) => {
  for (const stage of ['source', 'format', 'integrity', 'provenance', 'static_scan'] as const) {
    const { snap, invoked } = drive(job(), { [stage]: 'fail' });
    t.equal(snap.value, 'rejected', `${stage} fail`);
    t.equal(invoked[invoked.length - 1], stage, `${stage} is the last stage run`);
    t.notOk(invoked.includes('promote'));
    t.match(snap.output, { outcome: 'rejected', reason: new RegExp(`^${stage}: fail`) });
  }
});

t.test('quarantine machine — fail closed: an error verdict, a throwing stage, a malformed result all reject', async (t) => {
  t.equal(drive(job(), { format: 'error' }).snap.value, 'rejected');
  const thrown = drive(job(), { static_scan: 'throw' }).snap;
  t.equal(thrown.value, 'rejected');
  t.match(thrown.context.results.at(-1), { stage: 'static_scan', verdict: 'error', reason: /boom/ });
  let [s] = initialTransition(pipelineMachine, job());
  [s] = transition(pipelineMachine, s, done('source', { verdict: 'pass' }));
  t.equal(s.value, 'rejected', 'a result without its stage name is not a pass');
  [s] = initialTransition(pipelineMachine, job());
  [s] = transition(pipelineMachine, s, done('source', { ...r('format', 'pass') }));
  t.equal(s.value, 'rejected', 'a result for another stage is not a pass');
  [s] = initialTransition(pipelineMachine, job());
  for (const st of ['source', 'format', 'integrity', 'provenance', 'static_scan']) [s] = transition(pipelineMachine, s, done(st, r(st as StageName, 'pass')));
  [s] = transition(pipelineMachine, s, fail('promote', new Error('registry down')));
  t.equal(s.value, 'rejected');
  t.match(s.output?.reason, /promotion failed: registry down/);
});

t.test('quarantine machine — warn passes only where policy allows it', async (t) => {
  t.equal(drive(job(), { provenance: 'warn' }).snap.value, 'promoted', 'provenance warn allowed');
  const s = drive(job(), { static_scan: 'warn' }).snap;
  t.equal(s.value, 'rejected', 'static_scan warn not allowed by this policy');
  t.match(s.output?.reason, /a warning this policy does not allow/);
  t.equal(drive(job({ policy: { allowWarn: ['static_scan'], behavioral: 'off' } }), { static_scan: 'warn' }).snap.value, 'promoted');
});

t.test('quarantine machine — behavioral: held when required and unavailable, run when available, skipped when off', async (t) => {
  const held = drive(job({ policy: { allowWarn: [], behavioral: 'required' } }), {});
  t.equal(held.snap.value, 'held');
  t.notOk(held.invoked.includes('behavioral'));
  t.notOk(held.invoked.includes('promote'), 'a held model is not promoted');
  t.match(held.snap.output, { outcome: 'held', reason: /behavioral/ });

  const ran = drive(job({ policy: { allowWarn: [], behavioral: 'required' }, behavioralAvailable: true }), {});
  t.ok(ran.invoked.includes('behavioral'));
  t.equal(ran.snap.value, 'promoted');
  t.equal(drive(job({ policy: { allowWarn: [], behavioral: 'required' }, behavioralAvailable: true }), { behavioral: 'fail' }).snap.value, 'rejected');

  const off = drive(job({ policy: { allowWarn: [], behavioral: 'off' }, behavioralAvailable: true }), {});
  t.notOk(off.invoked.includes('behavioral'));
  t.equal(off.snap.value, 'promoted');
  t.match(off.snap.context.results.find((x) => x.stage === 'behavioral'), { reason: /off/ });
});

t.test('quarantine machine — a lone safetensors file: behavioral not applicable (says why), never held or blamed', async (t) => {
  const st = (o: Partial<PipelineJob>) => job({ ...o, artifact: { path: '/q/work/j1/w.safetensors', kind: 'file', name: 'w.safetensors', origin: { type: 'local' }, size: 10 } });
  for (const behavioral of ['required', 'optional'] as const) {
    const d = drive(st({ policy: { allowWarn: [], behavioral }, behavioralAvailable: true }), {});
    t.equal(d.snap.value, 'promoted', `behavioral ${behavioral}: promoted`);
    t.notOk(d.invoked.includes('behavioral'), 'stage 6 is not started');
    t.match(d.snap.context.results.find((x) => x.stage === 'behavioral'), { verdict: 'pass', evidence: { skipped: true }, reason: /not applicable: the file is not a GGUF language model/ });
  }
  const held = drive(st({ policy: { allowWarn: [], behavioral: 'required' }, behavioralAvailable: false }), {});
  t.equal(held.snap.value, 'promoted', 'not held for a runner it could never use');
});

t.test('quarantine machine — folders: behavioral not applicable, diffusion stage runs and can reject', async (t) => {
  const ok = drive(job({ policy: { allowWarn: [], behavioral: 'required' } }, 'folder'), {});
  t.equal(ok.snap.value, 'promoted', 'behavioral required does not hold a diffusers folder');
  t.ok(ok.invoked.includes('diffusion'));
  t.notOk(ok.invoked.includes('behavioral'));
  t.equal(drive(job({}, 'folder'), { diffusion: 'fail' }).snap.value, 'rejected');
});

t.test('quarantine machine — graph: every simple path ends promoted, rejected or held; promoted only when all recorded verdicts are acceptable', async (t) => {
  const verdicts: Verdict[] = ['pass', 'warn', 'fail', 'error'];
  const stages: StageName[] = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'];
  const events = [
    // Stage 2 says the file is a GGUF model, so stage 6 applies to file jobs.
    ...stages.flatMap((st) => verdicts.map((v) => done(st, r(st, v, st === 'format' ? { container: 'gguf' } : {})))),
    ...stages.map((st) => fail(st, new Error('x'))),
    done('promote', { sha256: 'ab' }), fail('promote', new Error('x')),
  ];
  for (const [kind, avail, beh] of [['file', false, 'required'], ['file', true, 'required'], ['folder', false, 'optional']] as const) {
    const j = job({ policy: { allowWarn: ['provenance'], behavioral: beh }, behavioralAvailable: avail }, kind);
    const paths = getSimplePaths(pipelineMachine, { events, input: j } as never);
    const finals = paths.filter((p) => (p.state as Snap).status === 'done');
    t.ok(finals.length > 10, `${kind}/${avail}: ${finals.length} terminal paths`);
    for (const p of finals) {
      const s = p.state as Snap;
      t.ok(['promoted', 'rejected', 'held'].includes(String(s.value)));
      if (String(s.value) === 'promoted') {
        t.ok(s.context.results.every((x) => x.verdict === 'pass' || (x.verdict === 'warn' && x.stage === 'provenance')), 'promoted implies acceptable verdicts');
        t.equal(s.context.results.length, 7, 'promoted implies every stage recorded');
      }
      if (s.context.results.some((x) => x.verdict === 'fail' || x.verdict === 'error')) t.equal(s.value, 'rejected');
    }
    if (kind === 'file' && !avail) t.ok(finals.some((p) => String((p.state as Snap).value) === 'held'));
    else t.notOk(finals.some((p) => String((p.state as Snap).value) === 'held'));
  }
});
