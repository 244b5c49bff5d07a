import t from 'tap';
import { createActor, fromPromise, initialTransition, SimulatedClock, transition, type AnyEventObject } from 'xstate';
import { vaultMachine, type VaultEvent } from '../../machines/vault/vault.machine.js';
import type { Reply } from '../../machines/request.js';

// transition() computes the next snapshot and the actions it would run: no effect runs, no timer waits.
const input = (initialized: boolean) => ({ initialized, idleMs: 1000, argon2: 'interactive' });
type Snap = ReturnType<typeof initialTransition<typeof vaultMachine>>[0];
type Actions = ReturnType<typeof transition<typeof vaultMachine>>[1];
const replies = (actions: Actions): Reply[] => actions.filter((a) => (a.type as string) === 'xstate.emit').map((a) => (a as unknown as { params: { event: Reply } }).params.event);
const names = (actions: Actions): string[] => actions.map((a) => a.type);
const step = (s: Snap, e: VaultEvent | AnyEventObject) => transition(vaultMachine, s, e as VaultEvent);
const key = (): Uint8Array => new Uint8Array([7, 7, 7, 7]);

function unlocked(): Snap {
  const [s0] = initialTransition(vaultMachine, input(true));
  const [s1] = step(s0, { type: 'vault.unlock', passphrase: 'p', requestId: 'u' });
  return step(s1, { type: 'xstate.done.actor.openVault', output: key() })[0];
}

t.test('vault machine — starts uninitialized without vault.json, locked with one', async (t) => {
  t.equal(initialTransition(vaultMachine, input(false))[0].value, 'uninitialized');
  const [b] = initialTransition(vaultMachine, input(true));
  t.equal(b.value, 'locked');
  t.equal(b.context.initialized, true);
  t.equal(b.context.dataKey, null);
});

t.test('vault machine — key lifecycle: locked → unlocking → unlocked (key in context) → locking → locked (key zeroed, then dropped)', async (t) => {
  const [s0] = initialTransition(vaultMachine, input(true));
  const [s1, a1] = step(s0, { type: 'vault.unlock', passphrase: 'right', requestId: 'r1' });
  t.equal(s1.value, 'unlocking');
  t.equal(s1.context.dataKey, null, 'no key while deriving');
  t.ok(names(a1).includes('xstate.spawnChild'), 'the key derivation is invoked, not run');
  t.same(replies(a1), [], 'no answer before the derivation ends');
  const k = key();
  const [s2, a2] = step(s1, { type: 'xstate.done.actor.openVault', output: k });
  t.equal(s2.value, 'unlocked');
  t.equal(s2.context.dataKey, k, 'the machine holds the key');
  t.same(replies(a2), [{ type: 'reply', requestId: 'r1', ok: true, data: { ok: true } }]);
  t.ok(names(a2).includes('reportUnlocked'));
  const [s3, a3] = step(s2, { type: 'vault.lock', reason: 'requested', requestId: 'r2' });
  t.equal(s3.value, 'locked', 'locking is passed through at once');
  t.equal(s3.context.dataKey, null);
  t.equal(s3.context.lockReason, 'requested');
  t.ok(names(a3).indexOf('zeroKey') < names(a3).indexOf('reportLocked'), 'the key is zeroed before the lock is reported');
  t.same(replies(a3).map((r) => [r.requestId, r.ok]), [['r2', true]]);
});

t.test('vault machine — a wrong passphrase returns to locked with the error, reported, no key', async (t) => {
  const [s0] = initialTransition(vaultMachine, input(true));
  const [s1] = step(s0, { type: 'vault.unlock', passphrase: 'nope', requestId: 'r1' });
  const [s2, a2] = step(s1, { type: 'xstate.error.actor.openVault', error: { code: 'SECAI_E_WRONG_PASSPHRASE', message: 'wrong passphrase' } });
  t.equal(s2.value, 'locked');
  t.equal(s2.context.dataKey, null);
  t.equal(s2.context.lastError?.code, 'SECAI_E_WRONG_PASSPHRASE');
  t.same(replies(a2), [{ type: 'reply', requestId: 'r1', ok: false, error: { code: 'SECAI_E_WRONG_PASSPHRASE', message: 'wrong passphrase' } }]);
  t.ok(names(a2).indexOf('reportUnlockFailed') < names(a2).indexOf('xstate.emit'), 'the failure is published before the reply');
});

t.test('vault machine — idle timeout locks and zeroes the key; relock records its reason', async (t) => {
  const [s1, a1] = step(unlocked(), { type: 'xstate.after.idleLimit.vault.unlocked' });
  t.equal(s1.value, 'locked');
  t.equal(s1.context.lockReason, 'idle');
  t.equal(s1.context.dataKey, null);
  t.ok(names(a1).includes('zeroKey'));
  const [s2] = step(unlocked(), { type: 'vault.relock', reason: 'forced: incident 7', requestId: 'x' });
  t.equal(s2.context.lockReason, 'forced: incident 7');
});

t.test('vault machine — auto-lock on a simulated clock; keepalive restarts the timer', async (t) => {
  const clock = new SimulatedClock();
  let zeroed = 0;
  const m = vaultMachine.provide({
    actors: { openVault: fromPromise(async () => key()) },
    actions: { zeroKey: () => void zeroed++, reportUnlocked: () => {}, reportLocked: () => {}, reportUnlockFailed: () => {} },
  });
  const a = createActor(m, { clock, input: { ...input(true), idleMs: 30 * 60_000 } }).start();
  const answered = new Promise((ok) => a.on('reply', ok));
  a.send({ type: 'vault.unlock', passphrase: 'right', requestId: 'r' });
  await answered;
  t.equal(a.getSnapshot().value, 'unlocked');
  clock.increment(29 * 60_000);
  a.send({ type: 'vault.keepalive' });
  clock.increment(29 * 60_000);
  t.equal(a.getSnapshot().value, 'unlocked', 'the keepalive restarted the 30 minutes');
  clock.increment(60_001);
  t.equal(a.getSnapshot().value, 'locked', 'locked 30 minutes after the last activity');
  t.equal(a.getSnapshot().context.lockReason, 'idle');
  t.equal(zeroed, 1, 'the key was zeroed on the way');
  a.stop();
});

t.test('vault machine — panic level 1 locks an open vault (reason panic), destroys nothing', async (t) => {
  const [s1, a1] = step(unlocked(), { type: 'vault.panic', level: 1, by: 'bus:auth', requestId: 'p' });
  t.equal(s1.value, 'panicking');
  t.ok(s1.context.dataKey, 'the key stays until the panic is on record');
  t.ok(names(a1).includes('xstate.spawnChild'));
  const [s2, a2] = step(s1, { type: 'xstate.done.actor.announcePanic' });
  t.equal(s2.value, 'locked');
  t.equal(s2.context.lockReason, 'panic');
  t.equal(s2.context.dataKey, null);
  t.same(replies(a2).filter((r) => r.requestId === 'p'), [{ type: 'reply', requestId: 'p', ok: true, data: { level: 1, removed: [] } }]);
});

t.test('vault machine — panic level 3: panicking → wiping (key zeroed before any file goes) → uninitialized', async (t) => {
  let s = unlocked();
  [s] = step(s, { type: 'vault.stage', id: 't1', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 's' });
  const [s1] = step(s, { type: 'vault.panic', level: 3, by: 'operator:k', confirm: true, passphrase: 'right', requestId: 'p' });
  const [s2, a2] = step(s1, { type: 'xstate.done.actor.announcePanic' });
  t.equal(s2.value, 'wiping');
  t.equal(s2.context.dataKey, null);
  t.same(s2.context.tickets, {}, 'staged writes die with the key');
  t.equal(s2.context.initialized, false);
  t.ok(names(a2).indexOf('zeroKey') < names(a2).indexOf('xstate.spawnChild'), 'zeroed before the wipe starts');
  const [s3, a3] = step(s2, { type: 'xstate.done.actor.wipe', output: { removed: ['vault', 'keys'] } });
  t.equal(s3.value, 'uninitialized');
  t.same(replies(a3), [{ type: 'reply', requestId: 'p', ok: true, data: { level: 3, removed: ['vault', 'keys'] } }]);
  const [s4, a4] = step(s3, { type: 'vault.unlock', passphrase: 'right', requestId: 'u' });
  t.equal(s4.value, 'uninitialized', 'nothing to unlock after a wipe');
  t.equal(replies(a4)[0]?.ok, false);
});

t.test('vault machine — a refused panic changes nothing; a panic interrupts an unlock, which is answered', async (t) => {
  const open = unlocked();
  const [s1] = step(open, { type: 'vault.panic', level: 2, by: 'bus:auth', requestId: 'p' });
  const [s2, a2] = step(s1, { type: 'xstate.error.actor.announcePanic', error: { code: 'SECAI_E_WRONG_PASSPHRASE', message: 'no' } });
  t.equal(s2.value, 'unlocked');
  t.equal(s2.context.dataKey, open.context.dataKey, 'the key is still there');
  t.equal(replies(a2)[0]?.ok, false);
  const [l0] = initialTransition(vaultMachine, input(true));
  const [l1] = step(l0, { type: 'vault.unlock', passphrase: 'p', requestId: 'u' });
  const [l2, a] = step(l1, { type: 'vault.panic', level: 1, by: 'bus:auth', requestId: 'p' });
  t.equal(l2.value, 'panicking');
  t.same(replies(a).find((r) => r.requestId === 'u')?.ok, false, 'the interrupted unlock is answered');
  const [, busy] = step(l2, { type: 'vault.panic', level: 1, by: 'x', requestId: 'p2' });
  t.equal(replies(busy)[0]?.ok, false, 'a second panic meanwhile is refused, not lost');
});

t.test('vault machine — staged writes: only while unlocked, only for the staging namespace, once, before they expire', async (t) => {
  const [locked] = initialTransition(vaultMachine, input(true));
  const [, aLocked] = step(locked, { type: 'vault.stage', id: 'a', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 's' });
  t.same(replies(aLocked).map((r) => !r.ok && r.error.code), ['SECAI_E_VAULT_LOCKED']);
  let s = unlocked();
  let a: Actions;
  [s, a] = step(s, { type: 'vault.stage', id: 'a', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 's' });
  t.same(replies(a)[0], { type: 'reply', requestId: 's', ok: true, data: { ticket: 'a' } });
  [s, a] = step(s, { type: 'vault.take', ticket: 'a', ns: 'auth', now: 1, requestId: 't' });
  t.same(replies(a).map((r) => !r.ok && r.error.code), ['SECAI_E_PERMISSION'], 'another namespace cannot commit it');
  t.same(s.context.tickets, {}, 'and the ticket is gone: no second try');
  [s] = step(s, { type: 'vault.stage', id: 'b', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 's' });
  [, a] = step(s, { type: 'vault.take', ticket: 'b', ns: 'gateway', now: 10_001, requestId: 't' });
  t.equal(replies(a)[0]?.ok, false, 'expired');
  [s, a] = step(s, { type: 'vault.take', ticket: 'b', ns: 'gateway', now: 5, requestId: 't' });
  t.equal(replies(a)[0]?.ok, true);
  [, a] = step(s, { type: 'vault.take', ticket: 'b', ns: 'gateway', now: 5, requestId: 't' });
  t.equal(replies(a)[0]?.ok, false, 'a ticket commits once');
  [s] = step(s, { type: 'vault.stage', id: 'c', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 's' });
  [s] = step(s, { type: 'vault.lock', requestId: 'l' });
  t.same(s.context.tickets, {}, 'locking drops staged writes with the key');
  [, a] = step(s, { type: 'vault.take', ticket: 'c', ns: 'gateway', now: 5, requestId: 't' });
  t.same(replies(a).map((r) => !r.ok && r.error.code), ['SECAI_E_VAULT_LOCKED'], 'a commit while locked is refused as locked');
});

t.test('vault machine — every request is answered in every state, at once or by the effect it starts (a refusal is an answer)', async (t) => {
  const requests: VaultEvent[] = [
    { type: 'vault.setup', passphrase: 'p', requestId: 'q' }, { type: 'vault.unlock', passphrase: 'p', requestId: 'q' },
    { type: 'vault.lock', requestId: 'q' }, { type: 'vault.relock', requestId: 'q' },
    { type: 'vault.stage', id: 'i', now: 0, ticket: { ns: 'gateway', op: 'delete', key: 'k' }, requestId: 'q' },
    { type: 'vault.take', ticket: 'none', ns: 'gateway', now: 0, requestId: 'q' },
    { type: 'vault.panic', level: 1, by: 'x', requestId: 'q' },
  ];
  const [uninit] = initialTransition(vaultMachine, input(false));
  const [locked] = initialTransition(vaultMachine, input(true));
  const states: Snap[] = [uninit, locked, unlocked(),
    step(uninit, { type: 'vault.setup', passphrase: 'p', requestId: 'a' })[0],
    step(locked, { type: 'vault.unlock', passphrase: 'p', requestId: 'a' })[0],
    step(locked, { type: 'vault.panic', level: 1, by: 'x', requestId: 'a' })[0]];
  for (const s of states) {
    for (const e of requests) {
      const [next, a] = step(s, e);
      // Answered now, or held as the one request the effect now running will answer.
      t.ok(replies(a).some((r) => r.requestId === 'q') || next.context.pending === 'q', `${String(s.value)} answers ${e.type}`);
    }
  }
});
