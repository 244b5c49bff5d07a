// The vault's life: uninitialized → locked ⇄ unlocked (the data key lives in the context only while unlocked), auto-lock, staged writes, panic.
import { assertEvent, assign, emit, fromPromise, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';
import { asFailure, replyError, replyOk, type Failure, type Reply, type Request } from '../request.js';

/** A write staged by put/delete and carried out by commit, only for the namespace that staged it. */
export interface Ticket { ns: string; op: 'put' | 'delete'; key: string; value?: Uint8Array; expires: number }

/** The per-process X25519 pair that opens passphrases sealed into signed commands. */
export interface BoxKeys { publicKey: Uint8Array; privateKey: Uint8Array }

export interface VaultContext {
  lastError: Failure | null;
  /** Why the vault last locked: requested, operator, idle, forced: …, panic. */
  lockReason: string | null;
  initialized: boolean;
  /** Auto-lock after this long without a keepalive (policy vault.idle_lock_minutes). */
  idleMs: number;
  /** The Argon2id limits name for a new vault or passphrase (policy vault.argon2: interactive, moderate, sensitive). */
  argon2: string;
  // Private: never listed in the actor's publicContext (test/adversarial/vault-state-leak.test.ts).
  /** The data key: set only by unlocking/initializing, zeroed (zeroKey) and dropped on every way out of unlocked. */
  dataKey: Uint8Array | null;
  tickets: Record<string, Ticket>;
  box: BoxKeys | null;
  /** The request the running effect (initializing, unlocking, panicking, wiping) will answer. */
  pending: string | null;
  /** The level of the panic under way. */
  panicLevel: number;
}

export interface VaultInput { initialized: boolean; idleMs: number; argon2: string }

export interface PanicRequest { level: number; passphrase?: string; confirm?: boolean; by: string }

export type VaultEvent =
  | ({ type: 'vault.setup'; passphrase: string } & Request)
  | ({ type: 'vault.unlock'; passphrase: string } & Request)
  | ({ type: 'vault.lock'; reason?: string } & Request)
  | ({ type: 'vault.relock'; reason?: string } & Request)
  | ({ type: 'vault.panic' } & PanicRequest & Request)
  /** put/delete: `id` is the new ticket's id, `now` the clock (the machine has none). */
  | ({ type: 'vault.stage'; id: string; now: number; ticket: Omit<Ticket, 'expires'> } & Request)
  /** commit: hands the ticket over (once) if it is live and staged by `ns`. */
  | ({ type: 'vault.take'; ticket: string; ns: string; now: number } & Request)
  | { type: 'vault.keepalive' }
  /** policy.yaml `vault` after a reload: the idle limit and the Argon2id limits for the next create or passphrase change. */
  | { type: 'vault.config'; idleMs: number; argon2: string }
  | { type: 'vault.box'; keys: BoxKeys };

export const TICKET_MS = 10_000;
export const MAX_TICKETS = 1000;

const live = (tickets: Record<string, Ticket>, now: number) => Object.fromEntries(Object.entries(tickets).filter(([, t]) => t.expires >= now));
const notOpen = (c: VaultContext): Failure =>
  (c.initialized ? { code: ErrorCode.VAULT_LOCKED, message: 'the vault is locked' } : { code: ErrorCode.VAULT_UNINITIALIZED, message: 'no vault: run first-time setup' });
const busy: Failure = { code: ErrorCode.NOT_READY, message: 'the vault is busy (unlocking, setting up or panicking): try again' };

export const vaultMachine = setup({
  types: {} as { context: VaultContext; input: VaultInput; events: VaultEvent; emitted: Reply },
  actors: {
    /** Creates vault.json; resolves with the new data key. */
    createVault: fromPromise<Uint8Array, { passphrase: string; argon2: string }>(notProvided('createVault')),
    /** Derives the passphrase key and unwraps the data key (or fails: wrong passphrase). */
    openVault: fromPromise<Uint8Array, { passphrase: string }>(notProvided('openVault')),
    /** Checks a destructive panic (confirm, passphrase proof; refusals are evented) and records it in the audit chain first. */
    announcePanic: fromPromise<void, PanicRequest>(notProvided('announcePanic')),
    /** Destroys key material (level 2) or everything (level 3); resolves with what it removed. */
    wipe: fromPromise<{ removed: string[] }, { level: number }>(notProvided('wipe')),
  },
  actions: {
    /** Overwrites the data key's bytes (dropping the reference alone would leave them in memory). */
    zeroKey: notProvided('zeroKey'),
    reportUnlocked: notProvided('reportUnlocked'),
    reportUnlockFailed: notProvided('reportUnlockFailed'),
    reportLocked: notProvided('reportLocked'),
  },
  guards: {
    initialized: ({ context }) => context.initialized,
    hasKey: ({ context }) => context.dataKey !== null,
    destroys: ({ context }) => context.panicLevel >= 2,
    tooManyTickets: ({ context, event }) => event.type === 'vault.stage' && Object.keys(live(context.tickets, event.now)).length >= MAX_TICKETS,
  },
  delays: {
    idleLimit: ({ context }) => context.idleMs,
  },
}).createMachine({
  id: 'vault',
  context: ({ input }) => ({
    lastError: null, lockReason: null, initialized: input.initialized, idleMs: input.idleMs, argon2: input.argon2,
    dataKey: null, tickets: {}, box: null, pending: null, panicLevel: 0,
  }),
  initial: 'starting',
  // What every state answers unless it says otherwise: a request is always answered, a refusal is an answer.
  on: {
    'vault.setup': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.INVALID_STATE, message: 'the vault is already set up' })) },
    'vault.unlock': { actions: emit(({ event }) => replyError(event.requestId, busy)) },
    'vault.lock': { actions: emit(({ event }) => replyOk(event.requestId, { ok: true })) },
    'vault.relock': { actions: emit(({ event }) => replyOk(event.requestId, { ok: true })) },
    'vault.stage': { actions: emit(({ context, event }) => replyError(event.requestId, notOpen(context))) },
    // Tickets die with the key (locking clears them); a commit while not open is refused as such.
    'vault.take': { actions: emit(({ context, event }) => replyError(event.requestId, notOpen(context))) },
    'vault.box': { guard: ({ context }) => context.box === null, actions: assign({ box: ({ event }) => event.keys }) },
    'vault.config': { actions: assign({ idleMs: ({ event }) => event.idleMs, argon2: ({ event }) => event.argon2 }) },
    // A panic interrupts whatever runs (an unlock or a setup in progress is answered as refused).
    'vault.panic': {
      target: '.panicking',
      actions: [
        emit(({ context }) => replyError(context.pending ?? '', { code: ErrorCode.INVALID_STATE, message: 'interrupted by a panic' })),
        assign({ pending: ({ event }) => event.requestId, panicLevel: ({ event }) => event.level }),
      ],
    },
  },
  states: {
    starting: {
      always: [{ guard: 'initialized', target: 'locked' }, { target: 'uninitialized' }],
    },
    uninitialized: {
      on: {
        'vault.setup': { target: 'initializing', actions: assign({ pending: ({ event }) => event.requestId }) },
        'vault.unlock': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.VAULT_UNINITIALIZED, message: 'no vault: run first-time setup' })) },
      },
    },
    initializing: {
      invoke: {
        id: 'createVault',
        src: 'createVault',
        input: ({ context, event }) => { assertEvent(event, 'vault.setup'); return { passphrase: event.passphrase, argon2: context.argon2 }; },
        onDone: {
          target: 'unlocked',
          actions: [
            assign({ dataKey: ({ event }) => event.output, lastError: null, lockReason: null, initialized: true }),
            emit(({ context }) => replyOk(context.pending ?? '', { ok: true })),
            assign({ pending: null }),
            'reportUnlocked',
          ],
        },
        onError: {
          target: 'uninitialized',
          actions: [
            assign({ lastError: ({ event }) => asFailure(event.error) }),
            emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))),
            assign({ pending: null }),
          ],
        },
      },
    },
    locked: {
      on: { 'vault.unlock': { target: 'unlocking', actions: assign({ pending: ({ event }) => event.requestId }) } },
    },
    unlocking: {
      invoke: {
        id: 'openVault',
        src: 'openVault',
        input: ({ event }) => { assertEvent(event, 'vault.unlock'); return { passphrase: event.passphrase }; },
        onDone: {
          target: 'unlocked',
          actions: [
            assign({ dataKey: ({ event }) => event.output, lastError: null, lockReason: null }),
            emit(({ context }) => replyOk(context.pending ?? '', { ok: true })),
            assign({ pending: null }),
            'reportUnlocked',
          ],
        },
        onError: {
          target: 'locked',
          actions: [
            assign({ lastError: ({ event }) => asFailure(event.error) }),
            // Published before the reply goes out, as the audit record of a guess.
            'reportUnlockFailed',
            emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))),
            assign({ pending: null }),
          ],
        },
      },
    },
    unlocked: {
      after: { idleLimit: { target: 'locking', actions: assign({ lockReason: 'idle' }) } },
      on: {
        // Re-entering restarts the idle timer.
        'vault.keepalive': { target: 'unlocked', reenter: true },
        // A new idle limit applies at once: the timer restarts with it.
        'vault.config': { target: 'unlocked', reenter: true, actions: assign({ idleMs: ({ event }) => event.idleMs, argon2: ({ event }) => event.argon2 }) },
        // The actor proves the passphrase itself when the vault is already open (nothing changes state).
        'vault.unlock': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.INVALID_STATE, message: 'the vault is already unlocked' })) },
        'vault.lock': { target: 'locking', actions: [assign({ lockReason: ({ event }) => event.reason ?? 'requested' }), emit(({ event }) => replyOk(event.requestId, { ok: true }))] },
        'vault.relock': { target: 'locking', actions: [assign({ lockReason: ({ event }) => event.reason ?? 'forced' }), emit(({ event }) => replyOk(event.requestId, { ok: true }))] },
        // A ticket is taken out whatever happens next: it cannot be replayed.
        'vault.take': {
          actions: [
            emit(({ context, event }) => {
              const t = context.tickets[event.ticket];
              return t && t.expires >= event.now && t.ns === event.ns
                ? replyOk(event.requestId, t)
                : replyError(event.requestId, { code: ErrorCode.PERMISSION, message: 'unknown or expired vault ticket' });
            }),
            assign({ tickets: ({ context, event }) => Object.fromEntries(Object.entries(context.tickets).filter(([id]) => id !== event.ticket)) }),
          ],
        },
        'vault.stage': [
          { guard: 'tooManyTickets', actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.NOT_READY, message: 'too many staged vault writes' })) },
          {
            actions: [
              assign({ tickets: ({ context, event }) => ({ ...live(context.tickets, event.now), [event.id]: { ...event.ticket, expires: event.now + TICKET_MS } }) }),
              emit(({ event }) => replyOk(event.requestId, { ticket: event.id })),
            ],
          },
        ],
      },
    },
    locking: {
      entry: ['zeroKey', assign({ dataKey: null, tickets: {} })],
      always: { target: 'locked', actions: 'reportLocked' },
    },
    panicking: {
      on: { 'vault.panic': { actions: emit(({ event }) => replyError(event.requestId, busy)) } },
      invoke: {
        id: 'announcePanic',
        src: 'announcePanic',
        input: ({ event }) => {
          assertEvent(event, 'vault.panic');
          return { level: event.level, by: event.by, ...(event.passphrase !== undefined && { passphrase: event.passphrase }), ...(event.confirm !== undefined && { confirm: event.confirm }) };
        },
        onDone: [
          { guard: 'destroys', target: 'wiping' },
          // Level 1 locks an open vault and destroys nothing.
          { guard: 'hasKey', target: 'locking', actions: [assign({ lockReason: 'panic' }), emit(({ context }) => replyOk(context.pending ?? '', { level: 1, removed: [] })), assign({ pending: null })] },
          { guard: 'initialized', target: 'locked', actions: [emit(({ context }) => replyOk(context.pending ?? '', { level: 1, removed: [] })), assign({ pending: null })] },
          { target: 'uninitialized', actions: [emit(({ context }) => replyOk(context.pending ?? '', { level: 1, removed: [] })), assign({ pending: null })] },
        ],
        // A refused panic changes nothing: back to where the vault was (an interrupted unlock stays undone).
        onError: [
          { guard: 'hasKey', target: 'unlocked', actions: [emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))), assign({ pending: null })] },
          { guard: 'initialized', target: 'locked', actions: [emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))), assign({ pending: null })] },
          { target: 'uninitialized', actions: [emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))), assign({ pending: null })] },
        ],
      },
    },
    wiping: {
      // The key is gone from memory before a byte on disk is touched.
      entry: ['zeroKey', assign({ dataKey: null, tickets: {}, initialized: false, lockReason: 'panic' })],
      on: { 'vault.panic': { actions: emit(({ event }) => replyError(event.requestId, busy)) } },
      invoke: {
        id: 'wipe',
        src: 'wipe',
        input: ({ context }) => ({ level: context.panicLevel }),
        onDone: { target: 'uninitialized', actions: [emit(({ context, event }) => replyOk(context.pending ?? '', { level: context.panicLevel, removed: event.output.removed })), assign({ pending: null })] },
        onError: { target: 'uninitialized', actions: [emit(({ context, event }) => replyError(context.pending ?? '', asFailure(event.error))), assign({ pending: null })] },
      },
    },
  },
});
