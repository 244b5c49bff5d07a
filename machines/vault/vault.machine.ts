// The vault's life: uninitialized → locked ⇄ unlocked, auto-lock after idling, forced relock, and destruction by panic.
import { assertEvent, assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

export interface VaultContext {
  lastError: { code: string; message: string } | null;
  /** Why the vault last locked: by hand, idle, forced (incident), panic. */
  lockReason: string | null;
  initialized: boolean;
}

export type VaultEvent =
  | { type: 'vault.setup'; passphrase: string }
  | { type: 'vault.unlock'; passphrase: string }
  | { type: 'vault.lock'; reason?: string }
  | { type: 'vault.relock'; reason?: string }
  | { type: 'vault.keepalive' }
  | { type: 'vault.wiped' };

type Failure = { code: string; message: string };
const asFailure = (e: unknown): Failure => {
  const x = e as { code?: unknown; message?: unknown };
  return { code: typeof x?.code === 'string' ? x.code : 'SECAI_E_INTERNAL', message: typeof x?.message === 'string' ? x.message : String(e) };
};

export const vaultMachine = setup({
  types: {} as { context: VaultContext; events: VaultEvent },
  actors: {
    /** Creates vault.json and holds the new data key in memory. */
    createVault: fromPromise<void, { passphrase: string }>(notProvided('createVault')),
    /** Derives the passphrase key and unwraps the data key into memory (or fails: wrong passphrase). */
    openVault: fromPromise<void, { passphrase: string }>(notProvided('openVault')),
  },
  actions: {
    /** Zeroes the data key in memory. */
    forgetKey: notProvided('forgetKey'),
    reportUnlocked: notProvided('reportUnlocked'),
    reportLocked: notProvided('reportLocked'),
  },
  guards: {
    /** Whether vault.json exists: the actor looks, the machine never touches a disk. */
    hasVault: notProvided('hasVault'),
  },
  delays: {
    /** Auto-lock after this long without a keepalive (policy vault.idle_lock_minutes; default 30 min). */
    idleLimit: 30 * 60_000,
  },
}).createMachine({
  id: 'vault',
  context: { lastError: null, lockReason: null, initialized: false },
  initial: 'starting',
  // Panic 2/3 destroy the key material: from any state the vault is then uninitialized.
  on: { 'vault.wiped': { target: '.uninitialized', actions: ['forgetKey', assign({ lockReason: 'panic', initialized: false })] } },
  states: {
    starting: {
      always: [{ guard: 'hasVault', target: 'locked', actions: assign({ initialized: true }) }, { target: 'uninitialized' }],
    },
    uninitialized: {
      on: { 'vault.setup': 'initializing' },
    },
    initializing: {
      invoke: {
        id: 'createVault',
        src: 'createVault',
        input: ({ event }) => { assertEvent(event, 'vault.setup'); return { passphrase: event.passphrase }; },
        onDone: { target: 'unlocked', actions: [assign({ lastError: null, initialized: true }), 'reportUnlocked'] },
        onError: { target: 'uninitialized', actions: assign({ lastError: ({ event }) => asFailure(event.error) }) },
      },
    },
    locked: {
      on: { 'vault.unlock': 'unlocking' },
    },
    unlocking: {
      invoke: {
        id: 'openVault',
        src: 'openVault',
        input: ({ event }) => { assertEvent(event, 'vault.unlock'); return { passphrase: event.passphrase }; },
        onDone: { target: 'unlocked', actions: [assign({ lastError: null, lockReason: null }), 'reportUnlocked'] },
        onError: { target: 'locked', actions: assign({ lastError: ({ event }) => asFailure(event.error) }) },
      },
    },
    unlocked: {
      after: { idleLimit: { target: 'locking', actions: assign({ lockReason: 'idle' }) } },
      on: {
        // Re-entering restarts the idle timer.
        'vault.keepalive': { target: 'unlocked', reenter: true },
        'vault.lock': { target: 'locking', actions: assign({ lockReason: ({ event }) => event.reason ?? 'requested' }) },
        'vault.relock': { target: 'locking', actions: assign({ lockReason: ({ event }) => event.reason ?? 'forced' }) },
      },
    },
    locking: {
      entry: 'forgetKey',
      always: { target: 'locked', actions: 'reportLocked' },
    },
  },
});
