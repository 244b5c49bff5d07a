import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { authMachine, type AuthEvent } from '../../machines/auth/auth.machine.js';

// transition() only: no passphrase is checked here, the check effect is invoked by name.
type Snap = ReturnType<typeof initialTransition<typeof authMachine>>[0];
type Actions = ReturnType<typeof transition<typeof authMachine>>[1];
const replies = (a: Actions) => a.filter((x) => (x.type as string) === 'xstate.emit').map((x) => (x as unknown as { params: { event: { requestId: string; ok: boolean } } }).params.event);
const attempt = async () => 'ok';
const check = (requestId: string, client = 'anonymous'): AuthEvent => ({ type: 'auth.check', client, attempt, requestId });

t.test('auth machine — one passphrase check at a time: the rest wait in order, each answered with the throttle it leaves', async (t) => {
  let [s] = initialTransition(authMachine, { throttle: { clients: {}, recent: [] }, failures: 0, deps: null });
  t.equal(s.value, 'serving');
  let a: Actions;
  [s, a] = transition(authMachine, s, check('g1'));
  t.equal(s.value, 'checking');
  t.ok(a.some((x) => x.type === 'xstate.spawnChild'), 'the check is invoked, not run');
  [s, a] = transition(authMachine, s, check('g2'));
  t.equal(s.value, 'checking', 'a parallel guess waits: it cannot pass the throttle before the first has failed');
  t.same(replies(a), []);
  const after = { clients: { anonymous: { failures: 1, lastFailureAt: 5 } }, recent: [5] };
  [s, a] = transition(authMachine, s, { type: 'xstate.done.actor.check', output: { throttle: after, failures: 1, ok: false, error: { code: 'SECAI_E_WRONG_PASSPHRASE', message: 'wrong' } } } as unknown as AuthEvent);
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['g1', false]]);
  t.same(s.context.throttle, after, 'the next check starts from the recorded failure');
  t.equal(s.context.failures, 1);
  t.equal(s.value, 'checking', 'the waiting check runs next');
  t.same(s.context.queue.map((q) => q.requestId), ['g2']);
  [s, a] = transition(authMachine, s, { type: 'xstate.done.actor.check', output: { throttle: after, failures: 1, ok: true, data: { ok: true } } } as unknown as AuthEvent);
  t.same(replies(a).map((r) => [r.requestId, r.ok]), [['g2', true]]);
  t.same([s.value, s.context.queue], ['serving', []]);
});
