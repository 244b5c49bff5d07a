import t from 'tap';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import { attestorMachine, changesOf, MAX_CHANGES, type Attestation, type AttestorEvent, type StateBundle } from '../../machines/attestor/attestor.machine.js';

// transition() only: nothing is measured, HMAC'd or quoted here; the effects' outputs are written by hand.
type Snap = ReturnType<typeof initialTransition<typeof attestorMachine>>[0];
type Actions = ReturnType<typeof transition<typeof attestorMachine>>[1];
const step = (s: Snap, e: AttestorEvent | AnyEventObject) => transition(attestorMachine, s, e as AttestorEvent);
const named = (a: Actions) => a.map((x) => x.type as string);
const invoked = (a: Actions) => a.filter((x) => (x.type as string) === 'xstate.spawnChild').map((x) => (x as unknown as { params: { src: string; id: string } }).params.id);

const bundle = (code: Record<string, string>, over: Partial<StateBundle> = {}): StateBundle => ({
  version: 1, mode: 'software-only', measuredAt: 1000, code, policyDigest: 'p'.repeat(64), registryManifest: 'absent', stateDigest: 's'.repeat(64), ...over,
});
const attestation = (code: Record<string, string>, over: Partial<StateBundle> = {}): Attestation => ({ bundle: bundle(code, over), hmac: 'h'.repeat(64), quote: null });
const CODE = { 'code:dist/a.js': 'a'.repeat(64), 'native:nats-server': 'b'.repeat(64) };

function attested(): Snap {
  const [s0] = initialTransition(attestorMachine, { intervalMs: 30_000 });
  return step(s0, { type: 'xstate.done.actor.measure', output: attestation(CODE) })[0];
}

t.test('attestor machine — measuring, then attested: the first measurement is the baseline and is reported', async (t) => {
  const [s0, a0] = initialTransition(attestorMachine, { intervalMs: 30_000 });
  t.equal(s0.value, 'measuring', 'nothing is attested before the first measurement: the gates refuse');
  t.same(invoked(a0), ['measure']);
  const [s1, a1] = step(s0, { type: 'xstate.done.actor.measure', output: attestation(CODE) });
  t.same(s1.value, { attested: 'waiting' });
  t.ok(named(a1).includes('reportAttested'));
  t.same(s1.context.baseline, { mode: 'software-only', code: CODE });
  t.equal(s1.context.measurements, 1);
  t.equal(s1.context.failure, null);
});

t.test('attestor machine — a re-measurement keeps the state attested while it runs; a changed policy digest is not a failure', async (t) => {
  let s = attested();
  let a: Actions;
  [s, a] = step(s, { type: 'attestor.remeasure', reason: 'policy reloaded' });
  t.same(s.value, { attested: 'remeasuring' }, 'gates still pass during a re-measurement');
  t.same(invoked(a), ['remeasure']);
  t.equal(s.context.reason, 'policy reloaded');
  [s, a] = step(s, { type: 'xstate.done.actor.remeasure', output: attestation(CODE, { policyDigest: 'q'.repeat(64), stateDigest: 't'.repeat(64) }) });
  t.same(s.value, { attested: 'waiting' });
  t.ok(named(a).includes('reportAttested'));
  t.equal(s.context.attested!.bundle.policyDigest, 'q'.repeat(64), 'the new state is the one in force');
  t.same(s.context.baseline!.code, CODE, 'the code baseline is the first one, never replaced');
});

t.test('attestor machine — a request during a re-measurement is served after it, not lost', async (t) => {
  let s = attested();
  [s] = step(s, { type: 'attestor.remeasure', reason: 'registry promoted' });
  [s] = step(s, { type: 'attestor.remeasure', reason: 'policy reloaded' });
  t.equal(s.context.again, true);
  const [s2, a2] = step(s, { type: 'xstate.done.actor.remeasure', output: attestation(CODE) });
  t.same(s2.value, { attested: 'remeasuring' }, 'measured again at once');
  t.same(invoked(a2), ['remeasure']);
  t.equal(s2.context.again, false);
  t.equal(s2.context.measurements, 2);
});

t.test('attestor machine — changed code after the baseline fails, with the changes as evidence, and the failure is sticky', async (t) => {
  let s = attested();
  let a: Actions;
  [s] = step(s, { type: 'attestor.remeasure', reason: 'interval' });
  const changed = { ...CODE, 'code:dist/a.js': 'c'.repeat(64), 'code:dist/new.js': 'd'.repeat(64) };
  [s, a] = step(s, { type: 'xstate.done.actor.remeasure', output: attestation(changed, { measuredAt: 5000 }) });
  t.equal(s.value, 'failed');
  t.ok(named(a).includes('reportFailed'));
  t.match(s.context.failure, { code: 'code_changed', at: 5000 });
  t.same(s.context.failure!.changes, [
    { name: 'code:dist/a.js', expected: 'a'.repeat(64), found: 'c'.repeat(64) },
    { name: 'code:dist/new.js', expected: 'absent', found: 'd'.repeat(64) },
  ]);
  t.equal(s.context.attested!.bundle.code['code:dist/a.js'], 'a'.repeat(64), 'the failed measurement is not the attested state');
  [s, a] = step(s, { type: 'attestor.remeasure', reason: 'policy reloaded' });
  t.equal(s.value, 'failed', 'no measurement clears a failure: an operator restarts after looking (docs/recovery.md)');
  t.same(invoked(a), []);
});

t.test('attestor machine — a rejected measurement (TPM gone, HMAC mismatch) fails with its code, evidence and stamped time', async (t) => {
  const [s0] = initialTransition(attestorMachine, { intervalMs: 30_000 });
  const err = Object.assign(new Error('the stored attestation does not match its HMAC'), {
    code: 'SECAI_E_NOT_ATTESTED', at: 7777, changes: Array.from({ length: MAX_CHANGES + 5 }, (_, i) => ({ name: `f${i}`, expected: 'x', found: 'y' })),
  });
  const [s, a] = step(s0, { type: 'xstate.error.actor.measure', error: err });
  t.equal(s.value, 'failed');
  t.ok(named(a).includes('reportFailed'));
  t.match(s.context.failure, { code: 'SECAI_E_NOT_ATTESTED', reason: /HMAC/, at: 7777 });
  t.equal(s.context.failure!.changes.length, MAX_CHANGES, 'evidence is bounded');
  const [s2] = step(attested(), { type: 'attestor.remeasure', reason: 'interval' });
  const [s3] = step(s2, { type: 'xstate.error.actor.remeasure', error: 'swtpm gone' });
  t.equal(s3.value, 'failed', 'a failure while attested fails too');
  t.match(s3.context.failure, { code: 'SECAI_E_INTERNAL', reason: 'swtpm gone', at: 0 });
});

t.test('attestor machine — a mode change (tpm → software-only) is a change, never a silent downgrade', async (t) => {
  const base = { mode: 'tpm' as const, code: CODE };
  t.same(changesOf(base, bundle(CODE)), [{ name: 'mode', expected: 'tpm', found: 'software-only' }]);
  t.same(changesOf(base, bundle(CODE, { mode: 'tpm' })), []);
  t.same(changesOf(null, bundle({})), [], 'no baseline yet: nothing to compare');
});

t.test('attestor machine — a new interval applies to the next wait', async (t) => {
  const [s] = step(attested(), { type: 'attestor.config', intervalMs: 5000 });
  t.equal(s.context.intervalMs, 5000);
  t.same(s.value, { attested: 'waiting' });
});
