import t from 'tap';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import {
  DEFAULT_SETTINGS, integrityMachine, judge, levelOf,
  type Change, type FileRecord, type IntegrityEvent, type ScanResult,
} from '../../machines/integrity/integrity.machine.js';
import type { Reply } from '../../machines/request.js';

// transition() only: no file is read, hashed or watched here.
type Snap = ReturnType<typeof initialTransition<typeof integrityMachine>>[0];
type Actions = ReturnType<typeof transition<typeof integrityMachine>>[1];
const step = (s: Snap, e: IntegrityEvent | AnyEventObject) => transition(integrityMachine, s, e as IntegrityEvent);
const named = (a: Actions) => a.map((x) => x.type as string);
const replies = (a: Actions): Reply[] => a.filter((x) => (x.type as string) === 'xstate.emit').map((x) => (x as unknown as { params: { event: Reply } }).params.event);
const rec = (sha: string, kind: FileRecord['kind'] = 'code'): FileRecord => ({ sha256: sha, size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1, kind });
const settings = { ...DEFAULT_SETTINGS, pendingGraceMs: 1000, escalateAfter: 3 };
const scanDone = (changes: Change[], at = 10_000, extra: Partial<ScanResult> = {}) => ({
  type: 'xstate.done.actor.scan',
  output: { changes, restat: {}, checked: 'all', baseline: { ok: true }, generation: 1, files: 3, bytesHashed: 0, ms: 1, full: false, at, ...extra } satisfies ScanResult,
});
const level = (s: Snap) => (s.value as { monitoring?: string }).monitoring ?? s.value;

function monitoring(): Snap {
  const [s0] = initialTransition(integrityMachine, { settings, now: 0 });
  const entries = { '/d/a.js': rec('a'), '/r/x/m.gguf': rec('m', 'model'), '/c/policy.yaml': rec('p', 'policy') };
  return step(s0, { type: 'xstate.done.actor.openBaseline', output: { kind: 'ok', baseline: { entries, generation: 1, createdAt: 0, updatedAt: 0 } } })[0];
}

t.test('integrity machine — no baseline: baselining, then trusted with a saved first baseline', async (t) => {
  const [s0] = initialTransition(integrityMachine, { settings, now: 0 });
  t.equal(s0.value, 'starting');
  const [s1] = step(s0, { type: 'xstate.done.actor.openBaseline', output: { kind: 'none' } });
  t.equal(s1.value, 'baselining');
  const [s2, a] = step(s1, { type: 'xstate.done.actor.measure', output: { entries: { '/d/a.js': rec('a') }, at: 4242 } });
  t.same(s2.value, { monitoring: 'trusted' });
  t.ok(named(a).includes('saveBaseline'), 'the first baseline is written');
  t.equal(s2.context.baseline!.generation, 1);
  t.same([s2.context.baseline!.createdAt, s2.context.baseline!.updatedAt], [4242, 4242], 'stamped with the effect\'s time, not the machine\'s clock');
});

t.test('integrity machine — a forged baseline at start is a recovery_required finding', async (t) => {
  const [s0] = initialTransition(integrityMachine, { settings, now: 0 });
  const [s, a] = step(s0, { type: 'xstate.done.actor.openBaseline', output: { kind: 'forged', reason: 'signature', at: 777 } });
  t.equal(level(s), 'recovery_required');
  t.ok(named(a).includes('publish'));
  t.equal(s.context.findings['baseline']!.class, 'integrity_violation');
  t.equal(s.context.findings['baseline']!.at, 777, 'the finding carries when the effect saw it');
  const [e] = step(initialTransition(integrityMachine, { settings, now: 0 })[0], { type: 'xstate.error.actor.openBaseline', error: Object.assign(new Error('EACCES'), { at: 888 }) });
  t.equal(level(e), 'recovery_required', 'an unreadable baseline is a finding too');
  t.equal(e.context.findings['baseline']!.at, 888);
});

t.test('integrity machine — changed code is recovery_required at once and sticky', async (t) => {
  let s = monitoring();
  let a: Actions;
  [s, a] = step(s, scanDone([{ path: '/d/a.js', kind: 'code', change: 'changed', old: 'a', new: 'b' }]));
  t.equal(level(s), 'recovery_required');
  t.ok(named(a).includes('publish'));
  t.equal(s.context.baseline!.entries['/d/a.js']!.sha256, 'a', 'the baseline is not moved by a finding');
  // The same change seen again is not reported again.
  [s, a] = step(s, scanDone([{ path: '/d/a.js', kind: 'code', change: 'changed', old: 'a', new: 'b' }], 11_000));
  t.notOk(named(a).includes('publish'));
});

t.test('integrity machine — a changed model file is degraded with manifest_mismatch and the model', async (t) => {
  const [s] = step(monitoring(), scanDone([{ path: '/r/x/m.gguf', kind: 'model', change: 'changed', old: 'm', new: 'n', model: 'tiny' }]));
  t.equal(level(s), 'degraded');
  t.match(s.context.findings['path:/r/x/m.gguf'], { class: 'manifest_mismatch', model: 'tiny', level: 'degraded' });
});

t.test('integrity machine — an explained change moves the baseline and raises nothing', async (t) => {
  const [s, a] = step(monitoring(), scanDone([{ path: '/r/y/n.gguf', kind: 'model', change: 'added', old: null, new: 'n', explained: 'promotion of n', record: rec('n', 'model') }]));
  t.equal(level(s), 'trusted');
  t.equal(s.context.baseline!.entries['/r/y/n.gguf']!.sha256, 'n');
  t.equal(s.context.baseline!.generation, 2);
  t.same(named(a).filter((x) => x === 'saveBaseline' || x === 'reportBaselined'), ['saveBaseline', 'reportBaselined']);
  t.notOk(named(a).includes('publish'));
});

t.test('integrity machine — a policy edit waits for its reload, then becomes a finding on a tick', async (t) => {
  let s = monitoring();
  const edit: Change = { path: '/c/policy.yaml', kind: 'policy', change: 'changed', old: 'p', new: 'q' };
  [s] = step(s, scanDone([edit], 10_000));
  t.equal(level(s), 'trusted');
  t.ok(s.context.pending['/c/policy.yaml'], 'pending');
  [s] = step(s, { type: 'integrity.tick', now: 10_500 });
  t.ok(s.context.pending['/c/policy.yaml'], 'still pending within the grace');
  s = { ...s, context: { ...s.context, scanning: true } } as Snap;
  const [late, a] = step(s, { type: 'integrity.tick', now: 11_001 });
  t.equal(level(late), 'recovery_required');
  t.ok(named(a).includes('publish'));
  // Explained before the deadline instead: accepted.
  const [ok] = step(monitoring(), scanDone([{ ...edit, explained: 'signed policy reload', record: rec('q', 'policy') }]));
  t.equal(level(ok), 'trusted');
});

t.test('integrity machine — canary touches: reported at once, a burst counted into one report', async (t) => {
  let s = monitoring();
  let a: Actions;
  const touch = (at: number, event = 'OPEN') => ({ type: 'integrity.canary', touch: { name: 'c', path: '/v/c', event, at, replanted: false } });
  [s, a] = step(s, touch(1000));
  t.ok(named(a).includes('publish'));
  t.equal(level(s), 'degraded');
  [s, a] = step(s, touch(1010, 'ACCESS'));
  t.notOk(named(a).includes('publish'), 'within the quiet window: counted');
  t.equal(s.context.findings['canary:/v/c']!.count, 2);
  [, a] = step(s, touch(2000));
  t.ok(named(a).includes('publish'));
});

t.test('integrity machine — a baseline rewritten while monitoring is a finding; rebaseline needs the diff digest', async (t) => {
  let s = monitoring();
  let a: Actions;
  [s] = step(s, scanDone([], 10_000, { baseline: { ok: false, reason: 're-signed' } }));
  t.equal(level(s), 'recovery_required');
  [s, a] = step(s, { type: 'integrity.rebaseline', confirm: 'abc', requestId: 'r1' });
  t.ok(a.some((x) => x.type === 'xstate.spawnChild'), 'the diff is measured');
  [s, a] = step(s, { type: 'xstate.done.actor.r1', output: { changes: [], digest: 'other', entries: {}, at: 1 } });
  t.match(replies(a), [{ requestId: 'r1', ok: false, error: { code: 'SECAI_E_DIGEST_MISMATCH' } }]);
  t.equal(level(s), 'recovery_required');
  [s] = step(s, { type: 'integrity.rebaseline', confirm: 'abc', requestId: 'r2' });
  [s, a] = step(s, { type: 'xstate.done.actor.r2', output: { changes: [], digest: 'abc', entries: { '/d/a.js': rec('z') }, at: 99_000 } });
  t.match(replies(a), [{ requestId: 'r2', ok: true }]);
  t.equal(level(s), 'trusted');
  t.same(s.context.findings, {});
  t.equal(s.context.baseline!.entries['/d/a.js']!.sha256, 'z');
  t.equal(s.context.baseline!.updatedAt, 99_000, 'the rebaseline is dated by the diff that measured it');
});

t.test('integrity machine — a scan that ran across an operator rebaseline is dropped and done again, not judged', async (t) => {
  let s = monitoring();
  [s] = step(s, scanDone([{ path: '/d/a.js', kind: 'code', change: 'changed', old: 'a', new: 'b' }]));
  t.equal(level(s), 'recovery_required');
  // A scan starts (against generation 1); the operator's rebaseline lands before it ends.
  [s] = step(s, { type: 'integrity.tick', now: 100_000 });
  t.equal(s.context.scanning, true);
  [s] = step(s, { type: 'integrity.rebaseline', confirm: 'abc', requestId: 'r1' });
  [s] = step(s, { type: 'xstate.done.actor.r1', output: { changes: [], digest: 'abc', entries: { '/d/a.js': rec('b') }, at: 100_500 } });
  t.equal(level(s), 'trusted');
  t.equal(s.context.baseline!.generation, 2);
  // The old scan saw the baseline file of generation 2 (not what it was told) and the file against entries of generation 1.
  const [after, a] = step(s, scanDone([{ path: '/d/a.js', kind: 'code', change: 'changed', old: 'a', new: 'b' }], 101_000, { generation: 1, baseline: { ok: false, reason: 'the baseline on disk is generation 2, not the 1 this monitor wrote' } }));
  t.equal(level(after), 'trusted', 'neither the stale change nor the "forged" baseline is a finding');
  t.same(after.context.findings, {});
  t.notOk(named(a).includes('publish'));
  t.equal(after.context.scanning, false);
  const [again, aa] = step(after, { type: 'integrity.tick', now: 101_100 });
  t.ok(aa.some((x) => x.type === 'xstate.spawnChild'), 'scanned again at the next tick');
  t.equal(again.context.scanning, true);
});

t.test('integrity judge — escalation by count, pending cleared when a path is looked at again', async (t) => {
  const f = (k: string) => ({ key: k, class: 'manifest_mismatch' as const, level: 'degraded' as const, kind: 'model' as const, summary: '', path: k, at: 0, count: 1 });
  t.equal(levelOf({ a: f('a'), b: f('b') }, 3), 'degraded');
  t.equal(levelOf({ a: f('a'), b: f('b'), c: f('c') }, 3), 'recovery_required');
  const pending = { '/r/tmp': { path: '/r/tmp', new: 'x', since: 0, deadline: 10, change: { path: '/r/tmp', kind: 'model' as const, change: 'added' as const, old: null, new: 'x' } } };
  t.same(judge([], ['/r'], {}, pending, settings, 5).pending, {}, 'gone when its folder is checked and it is no longer there');
  t.same(Object.keys(judge([], ['/d'], {}, pending, settings, 5).pending), ['/r/tmp'], 'kept when another folder is checked');
});
