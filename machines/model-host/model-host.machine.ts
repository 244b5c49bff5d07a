// The life of an actor that hosts model workers (inference, diffusion): sealed (every worker sandboxed) or
// UNSANDBOXED (development mode, shown in status). The host itself (workers per model) is held here, never published.
import { assign, setup } from 'xstate';

export type ModelHostEvent =
  | { type: 'models.changed'; loaded: number; unsandboxed: number; sandboxAvailable: boolean }
  /** The model host the actor made at start: held here, private, never published. */
  | { type: 'host.started'; host: unknown };

export function modelHostMachine<const Id extends string>(id: Id) {
  return setup({
    types: {} as { context: { loaded: number; unsandboxed: number; sandboxAvailable: boolean; host: unknown }; events: ModelHostEvent },
    guards: {
      exposed: ({ event }) => event.type === 'models.changed' && (event.unsandboxed > 0 || !event.sandboxAvailable),
    },
  }).createMachine({
    id,
    initial: 'sealed',
    context: { loaded: 0, unsandboxed: 0, sandboxAvailable: true, host: null },
    on: {
      'host.started': { actions: assign({ host: ({ event }) => event.host }) },
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
}
