// The gateway's life: opening its loopback listener, serving, or failed (port taken, bad config).
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

export type GatewayEvent = { type: 'gateway.stop' };

export const gatewayMachine = setup({
  types: {} as { context: { port: number; error: string | null; server: unknown }; events: GatewayEvent },
  actors: {
    /** Opens the loopback listener; resolves with its port and the server handle (private: never published). */
    listen: fromPromise<{ port: number; server: unknown }>(notProvided('listen')),
    close: fromPromise<void, { server: unknown }>(notProvided('close')),
  },
}).createMachine({
  id: 'gateway',
  initial: 'opening',
  context: { port: 0, error: null, server: null },
  states: {
    opening: {
      invoke: {
        id: 'listen',
        src: 'listen',
        onDone: { target: 'serving', actions: assign({ port: ({ event }) => event.output.port, server: ({ event }) => event.output.server }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
    },
    serving: { on: { 'gateway.stop': 'closing' } },
    closing: { invoke: { id: 'close', src: 'close', input: ({ context }) => ({ server: context.server }), onDone: 'closed', onError: 'closed' } },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});
