import t from 'tap';
import { createActor, fromPromise, initialTransition, SimulatedClock, transition } from 'xstate';
import { vaultMachine } from '../../machines/vault/vault.machine.js';

const withVault = (has: boolean, idleMs = 1000) => vaultMachine.provide({
  guards: { hasVault: () => has },
  delays: { idleLimit: idleMs },
  actors: {
    createVault: fromPromise(async () => {}),
    openVault: fromPromise(async ({ input }: { input: { passphrase: string } }) => {
      if (input.passphrase !== 'right passphrase') throw Object.assign(new Error('wrong passphrase'), { code: 'SECAI_E_WRONG_PASSPHRASE' });
    }),
  },
  actions: { forgetKey: () => {}, reportUnlocked: () => {}, reportLocked: () => {} },
});

t.test('vault machine — starts uninitialized without vault.json, locked with one', async (t) => {
  const [a] = initialTransition(withVault(false));
  t.equal(a.value, 'uninitialized');
  const [b] = initialTransition(withVault(true));
  t.equal(b.value, 'locked');
  t.equal(b.context.initialized, true);
});

t.test('vault machine — a locked vault ignores lock/keepalive and records nothing; unlock goes through unlocking', async (t) => {
  const m = withVault(true);
  const [s0] = initialTransition(m);
  const [s1] = transition(m, s0, { type: 'vault.keepalive' });
  t.equal(s1.value, 'locked');
  const [s2, actions] = transition(m, s0, { type: 'vault.unlock', passphrase: 'x' });
  t.equal(s2.value, 'unlocking');
  t.ok(actions.some((a) => a.type === 'xstate.spawnChild'), 'the key derivation is invoked, not run');
});

t.test('vault machine — wrong passphrase returns to locked with the error; right one unlocks', async (t) => {
  const a = createActor(withVault(true)).start();
  a.send({ type: 'vault.unlock', passphrase: 'nope' });
  await new Promise((r) => setTimeout(r, 10));
  t.equal(a.getSnapshot().value, 'locked');
  t.equal(a.getSnapshot().context.lastError?.code, 'SECAI_E_WRONG_PASSPHRASE');
  a.send({ type: 'vault.unlock', passphrase: 'right passphrase' });
  await new Promise((r) => setTimeout(r, 10));
  t.equal(a.getSnapshot().value, 'unlocked');
  t.equal(a.getSnapshot().context.lastError, null);
  a.stop();
});

t.test('vault machine — auto-lock after the idle limit on a simulated clock; keepalive restarts the timer', async (t) => {
  const clock = new SimulatedClock();
  const forgotten: number[] = [];
  const m = withVault(true, 30 * 60_000).provide({ actions: { forgetKey: () => void forgotten.push(clock.now()) } });
  const a = createActor(m, { clock }).start();
  a.send({ type: 'vault.unlock', passphrase: 'right passphrase' });
  await new Promise((r) => setTimeout(r, 10));
  t.equal(a.getSnapshot().value, 'unlocked');
  clock.increment(29 * 60_000);
  t.equal(a.getSnapshot().value, 'unlocked', 'still open after 29 minutes');
  a.send({ type: 'vault.keepalive' });
  clock.increment(29 * 60_000);
  t.equal(a.getSnapshot().value, 'unlocked', 'the keepalive restarted the 30 minutes');
  clock.increment(60_001);
  t.equal(a.getSnapshot().value, 'locked', 'locked 30 minutes after the last activity');
  t.equal(a.getSnapshot().context.lockReason, 'idle');
  t.equal(forgotten.length, 1, 'the key was zeroed on the way');
  a.stop();
});

t.test('vault machine — forced relock and panic wipe', async (t) => {
  const a = createActor(withVault(true)).start();
  a.send({ type: 'vault.unlock', passphrase: 'right passphrase' });
  await new Promise((r) => setTimeout(r, 10));
  a.send({ type: 'vault.relock', reason: 'incident 7' });
  t.equal(a.getSnapshot().value, 'locked');
  t.equal(a.getSnapshot().context.lockReason, 'incident 7');
  a.send({ type: 'vault.wiped' });
  t.equal(a.getSnapshot().value, 'uninitialized');
  t.equal(a.getSnapshot().context.initialized, false);
  a.send({ type: 'vault.unlock', passphrase: 'right passphrase' });
  t.equal(a.getSnapshot().value, 'uninitialized', 'nothing to unlock after a wipe');
  a.stop();
});

t.test('vault machine — first-run setup goes to unlocked', async (t) => {
  const a = createActor(withVault(false)).start();
  a.send({ type: 'vault.setup', passphrase: 'right passphrase' });
  await new Promise((r) => setTimeout(r, 10));
  t.equal(a.getSnapshot().value, 'unlocked');
  t.equal(a.getSnapshot().context.initialized, true);
  a.stop();
});
