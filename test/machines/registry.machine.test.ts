import t from 'tap';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import { registryMachine, type RegistryEvent } from '../../machines/registry/registry.machine.js';
import type { Reply } from '../../machines/request.js';

// transition() only: the store's effects (copy, sign, hash) never run here.
type Snap = ReturnType<typeof initialTransition<typeof registryMachine>>[0];
type Actions = ReturnType<typeof transition<typeof registryMachine>>[1];
const replies = (actions: Actions): Reply[] => actions.filter((a) => (a.type as string) === 'xstate.emit').map((a) => (a as unknown as { params: { event: Reply } }).params.event);
const spawned = (actions: Actions): string[] => actions.filter((a) => a.type === 'xstate.spawnChild').map((a) => (a as unknown as { params: { src: string } }).params.src);
const step = (s: Snap, e: RegistryEvent | AnyEventObject) => transition(registryMachine, s, e as RegistryEvent);
const promote = (requestId: string, name: string): RegistryEvent => ({ type: 'registry.promote', promote: { name, jobId: 'j' }, requestId });
const tamperedError = { code: 'SECAI_E_REGISTRY_TAMPERED', message: 'bad signature' };

function serving(models = 2): Snap {
  const [s0, a0] = initialTransition(registryMachine);
  if (s0.value !== 'opening' || !spawned(a0).includes('count')) throw new Error('expected opening with the count invoked');
  return step(s0, { type: 'xstate.done.actor.count', output: models })[0];
}

t.test('registry machine — opening counts the signed manifest, then serves', async (t) => {
  const s = serving(3);
  t.equal(s.value, 'serving');
  t.same([s.context.models, s.context.lastChange], [3, 'opened']);
  const [bad, a] = step(initialTransition(registryMachine)[0], { type: 'xstate.error.actor.count', error: tamperedError });
  t.equal(bad.value, 'tampered', 'a manifest that fails at open is tampered');
  t.ok(a.some((x) => x.type === 'reportTampered'));
});

t.test('registry machine — promotion flow: one write at a time, queued in order, each answered', async (t) => {
  let s = serving(2);
  let a: Actions;
  [s, a] = step(s, promote('r1', 'alpha'));
  t.equal(s.value, 'promoting');
  t.same(spawned(a), ['promote'], 'the copy is invoked, not run');
  [s, a] = step(s, promote('r2', 'beta'));
  t.equal(s.value, 'promoting', 'a second promotion waits');
  t.same(replies(a), []);
  [s] = step(s, { type: 'registry.remove', name: 'alpha', who: { by: 'operator', keyId: 'k' }, requestId: 'r3' });
  t.same(s.context.queue.map((q) => q.requestId), ['r1', 'r2', 'r3']);
  [s, a] = step(s, { type: 'xstate.done.actor.promote', output: { entry: { name: 'alpha' }, models: 3 } });
  t.same(replies(a), [{ type: 'reply', requestId: 'r1', ok: true, data: { name: 'alpha' } }]);
  t.equal(s.value, 'promoting', 'the next queued promotion starts at once');
  t.same([s.context.models, s.context.lastChange], [3, 'promoted alpha']);
  [s, a] = step(s, { type: 'xstate.error.actor.promote', error: { code: 'SECAI_E_DIGEST_MISMATCH', message: 'changed' } });
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['r2', false]], 'a failed promotion is answered with its error');
  t.equal(s.value, 'removing', 'and the removal behind it runs');
  [s, a] = step(s, { type: 'xstate.done.actor.remove', output: { entry: { name: 'alpha' }, models: 2 } });
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['r3', true]]);
  t.same([s.value, s.context.models, s.context.lastChange, s.context.queue], ['serving', 2, 'removed alpha', []]);
});

t.test('registry machine — reads run as children beside a write and are answered by request id', async (t) => {
  let s = serving();
  [s] = step(s, promote('w', 'alpha'));
  let a: Actions;
  [s, a] = step(s, { type: 'registry.read', read: { kind: 'list' }, requestId: 'read-1' });
  t.same(spawned(a), ['read']);
  t.equal(s.value, 'promoting', 'a listing does not wait for the promotion');
  [s, a] = step(s, { type: 'xstate.done.actor.read-1', output: { models: [] }, actorId: 'read-1' });
  t.same(replies(a), [{ type: 'reply', requestId: 'read-1', ok: true, data: { models: [] } }]);
  t.equal(s.value, 'promoting');
  [, a] = step(s, { type: 'xstate.error.actor.read-2', error: { code: 'SECAI_E_UNKNOWN_OP', message: 'no such model' }, actorId: 'read-2' });
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['read-2', false]]);
});

t.test('registry machine — a tampered manifest seen by any read is final: queued writes and later requests are refused', async (t) => {
  let s = serving();
  [s] = step(s, promote('w1', 'alpha'));
  [s] = step(s, promote('w2', 'beta'));
  let a: Actions;
  [s, a] = step(s, { type: 'xstate.error.actor.read-9', error: tamperedError, actorId: 'read-9' });
  t.equal(s.value, 'tampered');
  t.equal(s.context.reason, 'bad signature');
  t.same(replies(a).map((r) => r.requestId).sort(), ['read-9', 'w1', 'w2'], 'the read and both waiting writes are answered');
  t.ok(replies(a).every((r) => !r.ok));
  for (const e of [promote('x', 'gamma'), { type: 'registry.read', read: { kind: 'list' }, requestId: 'y' }, { type: 'registry.remove', name: 'alpha', who: { by: 'operator', keyId: 'k' }, requestId: 'z' }] as RegistryEvent[]) {
    const [next, out] = step(s, e);
    t.equal(next.value, 'tampered');
    t.same(replies(out).map((r) => !r.ok && r.error.code), ['SECAI_E_REGISTRY_TAMPERED'], `${e.type} refused`);
    t.same(spawned(out), [], 'and no effect starts');
  }
});

t.test('registry machine — suspend and unsuspend are queued writes; the record in force goes to every read; refused when tampered', async (t) => {
  let s = serving();
  let a: Actions;
  [s, a] = step(s, { type: 'registry.suspend', model: 'alpha', incidentId: 'inc-1', reason: 'changed', requestId: 's1' });
  t.equal(s.value, 'suspending');
  t.same(spawned(a), ['suspend']);
  [s] = step(s, { type: 'registry.unsuspend', model: 'alpha', keyId: 'k', requestId: 'u1' });
  t.same(s.context.queue.map((q) => q.requestId), ['s1', 'u1'], 'the unsuspend waits behind the suspend');
  const rec = { sha256: 'a'.repeat(64), names: ['alpha'], by: 'inc-1', reason: 'changed', at: 1 };
  [s, a] = step(s, { type: 'xstate.done.actor.suspend', output: { reply: { sha256: rec.sha256, names: ['alpha'], already: false }, suspensions: { records: [rec], seq: 1, untrusted: null } } });
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['s1', true]]);
  t.same(s.context.suspensions.records, [rec], 'the machine holds the record in force');
  t.equal(s.value, 'unsuspending');
  [s, a] = step(s, { type: 'registry.read', read: { kind: 'get', name: 'alpha', load: true }, requestId: 'r1' });
  const input = (a.find((x) => x.type === 'xstate.spawnChild') as unknown as { params: { input: { suspensions: unknown } } }).params.input;
  t.same(input.suspensions, { records: [rec], seq: 1, untrusted: null }, 'a read gets the suspensions with it');
  [s, a] = step(s, { type: 'xstate.error.actor.unsuspend', error: { code: 'SECAI_E_INVALID_STATE', message: 'not suspended' } });
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['u1', false]]);
  t.same([s.value, s.context.suspensions.records.length], ['serving', 1], 'a failed unsuspend changes nothing');
  [s] = step(s, { type: 'xstate.error.actor.read-x', error: tamperedError, actorId: 'read-x' });
  const [, out] = step(s, { type: 'registry.unsuspend', model: 'alpha', keyId: 'k', requestId: 'u2' });
  t.same(replies(out).map((r) => !r.ok && r.error.code), ['SECAI_E_REGISTRY_TAMPERED']);
});

t.test('registry machine — the suspension record read at start is its initial context', async (t) => {
  const [s] = initialTransition(registryMachine, { suspensions: { records: [], seq: 3, untrusted: 'edited' } });
  t.same(s.context.suspensions, { records: [], seq: 3, untrusted: 'edited' });
});
