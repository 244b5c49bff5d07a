// The inference actor's own life: serving, with a count of loaded models and whether any runs unsandboxed.
import { assign, setup } from 'xstate';

export type InferenceEvent = { type: 'models.changed'; loaded: number; unsandboxed: number };

export const inferenceMachine = setup({
  types: {} as { context: { loaded: number; unsandboxed: number }; events: InferenceEvent },
}).createMachine({
  id: 'inference',
  initial: 'serving',
  context: { loaded: 0, unsandboxed: 0 },
  states: {
    serving: {
      on: { 'models.changed': { actions: assign({ loaded: ({ event }) => event.loaded, unsandboxed: ({ event }) => event.unsandboxed }) } },
    },
  },
});
