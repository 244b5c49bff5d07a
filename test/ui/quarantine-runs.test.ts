// The Models page folds quarantine events from the audit stream into runs: stages in order, latest verdict per stage, outcome.
import t from 'tap';
import { foldRun, type Run } from '../../ui/src/quarantine-runs.js';

const rec = (seq: number, subject: string, payload: unknown) => ({ seq, at: seq, stream: 'AUDIT_EVT', subject, sha256: '', payload, hash: '' });

t.test('ui runs — stages and outcome grouped by job id; other subjects ignored', async (t) => {
  const runs = new Map<string, Run>();
  foldRun(runs, rec(1, 'secai.evt.quarantine.stage', { id: 'j1', name: 'tiny.gguf', stage: 'source', verdict: 'pass', reason: 'local import', evidence: { origin: 'local' } }));
  foldRun(runs, rec(2, 'secai.evt.quarantine.stage', { id: 'j2', stage: 'source', verdict: 'fail', reason: 'bad host', evidence: {} }));
  foldRun(runs, rec(3, 'secai.evt.audit.chain_verified', { id: 'j1', stage: 'format', verdict: 'fail' }));
  foldRun(runs, rec(4, 'secai.evt.quarantine.stage', { id: 'j1', stage: 'format', verdict: 'pass', reason: 'gguf v3', evidence: { tensors: 20 } }));
  foldRun(runs, rec(5, 'secai.evt.quarantine.promoted', { id: 'j1', reason: 'every stage passed' }));
  foldRun(runs, rec(6, 'secai.evt.quarantine.verdict', { job: { id: 'j2' }, outcome: 'rejected', reason: 'source failed' }));
  foldRun(runs, rec(7, 'secai.evt.quarantine.stage', 'not an object'));
  foldRun(runs, rec(8, 'secai.evt.quarantine.stage', { stage: 'x', verdict: 'pass' }));
  t.same([...runs.keys()], ['j1', 'j2']);
  const j1 = runs.get('j1')!;
  t.equal(j1.name, 'tiny.gguf');
  t.same(j1.steps.map((s) => [s.stage, s.verdict]), [['source', 'pass'], ['format', 'pass']]);
  t.equal(j1.outcome, 'promoted');
  t.equal(runs.get('j2')!.outcome, 'rejected');
  t.equal(runs.get('j2')!.reason, 'source failed');
});
