// The Models page folds quarantine events from the audit stream into runs: stages in order, progress, outcome with evidence.
import t from 'tap';
import { foldRun, type Run } from '../../ui/src/quarantine-runs.js';

const rec = (seq: number, subject: string, payload: unknown) => ({ seq, at: seq, stream: 'AUDIT_EVT', subject, sha256: '', payload, hash: '' });

t.test('ui runs — queued, stage progress and verdicts, final verdict with evidence; other subjects ignored', async (t) => {
  const runs = new Map<string, Run>();
  foldRun(runs, rec(1, 'secai.evt.quarantine.job_queued', { id: 'j1', name: 'tiny.gguf', kind: 'file', size: 10, origin: {} }));
  foldRun(runs, rec(2, 'secai.evt.quarantine.stage', { id: 'j1', stage: 'source', percent: 0, note: '' }));
  t.equal(runs.get('j1')!.current, 'source', 'a stage without a verdict is running');
  foldRun(runs, rec(3, 'secai.evt.quarantine.stage', { id: 'j1', stage: 'source', verdict: 'pass', percent: 100, note: 'local import' }));
  foldRun(runs, rec(4, 'secai.evt.audit.chain_verified', { id: 'j1', stage: 'format', verdict: 'fail' }));
  foldRun(runs, rec(5, 'secai.evt.quarantine.stage', { id: 'j1', stage: 'format', verdict: 'pass', percent: 100, note: 'gguf v3' }));
  let j1 = runs.get('j1')!;
  t.equal(j1.name, 'tiny.gguf');
  t.equal(j1.current, null);
  t.same(j1.steps.map((s) => [s.stage, s.verdict, s.reason]), [['source', 'pass', 'local import'], ['format', 'pass', 'gguf v3']]);
  foldRun(runs, rec(6, 'secai.evt.quarantine.verdict', {
    id: 'j1', name: 'tiny.gguf', outcome: 'promoted', reason: 'every stage passed', sha256: 'ab',
    results: [{ stage: 'source', verdict: 'pass', reason: 'local', evidence: { origin: 'local' } }, { stage: 'format', verdict: 'pass', reason: 'gguf', evidence: { tensors: 20 } }, { nonsense: true }],
  }));
  j1 = runs.get('j1')!;
  t.equal(j1.outcome, 'promoted');
  t.same(j1.steps.map((s) => s.evidence), [{ origin: 'local' }, { tensors: 20 }], 'evidence from the verdict');
  foldRun(runs, rec(7, 'secai.evt.quarantine.verdict', { id: 'j2', outcome: 'bogus' }));
  t.equal(runs.get('j2')!.outcome, null, 'an unknown outcome is not an outcome');
  foldRun(runs, rec(8, 'secai.evt.quarantine.stage', 'not an object'));
  foldRun(runs, rec(9, 'secai.evt.quarantine.stage', { stage: 'x', verdict: 'pass' }));
  t.same([...runs.keys()], ['j1', 'j2']);
});

t.test('quarantine runs — a URL import is downloading (cancellable) until its source progress stops saying so', async (t) => {
  const runs = new Map<string, Run>();
  foldRun(runs, rec(1, 'secai.evt.quarantine.job_queued', { id: 'd1', name: 'big.gguf', kind: 'file', size: 0, origin: { type: 'url' } }));
  t.equal(runs.get('d1')!.downloading, false, 'queued, not yet receiving');
  foldRun(runs, rec(2, 'secai.evt.quarantine.stage', { id: 'd1', stage: 'source', percent: 40, note: 'downloading: 400 bytes received of 1000' }));
  t.equal(runs.get('d1')!.downloading, true);
  t.equal(runs.get('d1')!.percent, 40);
  foldRun(runs, rec(3, 'secai.evt.quarantine.stage', { id: 'd1', stage: 'source', percent: 0, note: 'started' }));
  t.equal(runs.get('d1')!.downloading, false, 'the pipeline took it over');
  foldRun(runs, rec(4, 'secai.evt.quarantine.stage', { id: 'd2', stage: 'source', percent: 10, note: 'downloading: 1 bytes received' }));
  foldRun(runs, rec(5, 'secai.evt.quarantine.verdict', { id: 'd2', name: 'x.gguf', outcome: 'rejected', reason: 'download cancelled by the web UI after 1 bytes', sha256: null, results: [] }));
  t.match(runs.get('d2'), { downloading: false, outcome: 'rejected', reason: /cancelled by the web UI/ });
});
