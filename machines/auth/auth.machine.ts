// The auth actor's life: serving, counting live sessions; its effects are all in the actor's op handlers.
import { assign, setup } from 'xstate';

export interface AuthContext {
  sessions: number;
  failures: number;
}

export type AuthEvent = { type: 'auth.sessions'; sessions: number } | { type: 'auth.failures'; failures: number };

export const authMachine = setup({
  types: {} as { context: AuthContext; events: AuthEvent },
}).createMachine({
  id: 'auth',
  initial: 'serving',
  context: { sessions: 0, failures: 0 },
  states: {
    serving: {
      on: {
        'auth.sessions': { actions: assign({ sessions: ({ event }) => event.sessions }) },
        'auth.failures': { actions: assign({ failures: ({ event }) => event.failures }) },
      },
    },
  },
});
