// The inference actor's own life: sealed (every worker sandboxed) or UNSANDBOXED (development mode, shown in status).
import { assign, setup } from 'xstate';

export type InferenceEvent =
  | { type: 'models.changed'; loaded: number; unsandboxed: number; sandboxAvailable: boolean }
  /** The model host (workers per model) the actor made at start: held here, private, never published. */
  | { type: 'inference.started'; host: unknown };

export const inferenceMachine = setup({
  types: {} as { context: { loaded: number; unsandboxed: number; sandboxAvailable: boolean; host: unknown }; events: InferenceEvent },
  guards: {
    exposed: ({ event }) => event.type === 'models.changed' && (event.unsandboxed > 0 || !event.sandboxAvailable),
  },
}).createMachine({
  id: 'inference',
  initial: 'sealed',
  context: { loaded: 0, unsandboxed: 0, sandboxAvailable: true, host: null },
  on: {
    'inference.started': { actions: assign({ host: ({ event }) => event.host }) },
    'models.changed': [
      { guard: 'exposed', target: '.unsandboxed', actions: assign(({ event }) => ({ loaded: event.loaded, unsandboxed: event.unsandboxed, sandboxAvailable: event.sandboxAvailable })) },
      { target: '.sealed', actions: assign(({ event }) => ({ loaded: event.loaded, unsandboxed: event.unsandboxed, sandboxAvailable: event.sandboxAvailable })) },
    ],
  },
  states: {
    /** Every worker runs under bubblewrap (or none is loaded and bubblewrap works). */
    sealed: {},
    /** A worker runs without the sandbox, or bubblewrap is unavailable here: `secai status` shows this state. */
    unsandboxed: {},
  },
});
