// The airlock's life: disabled (every request refused) or enabled, as the current policy says; contained (every
// request refused, whatever the policy says) from an incident's containment until a signed operator enable.
import { assign, setup } from 'xstate';

/** Why the airlock is contained: the incident that asked, its reason, and when (persisted: a restart keeps it). */
export interface AirlockContainment { incidentId: string; reason: string; at: number }

export interface AirlockContext {
  policyDigest: string;
  /** Whether the policy in force enables egress (where an operator's enable returns to). */
  policyEnabled: boolean;
  requests: number;
  denied: number;
  /** Set while an incident holds the airlock contained; only `airlock.enable` (a signed operator command) clears it. */
  containment: AirlockContainment | null;
  /** The policy in force as last fetched from the policy actor; private (large), only the digest is published. */
  policy: { digest: string; value: unknown } | null;
  /** The downloads in flight (the actor's stream sessions), made at start; private. */
  downloads: unknown;
  /** The policy sections the actor follows (airlock, models: runtime/config-section.ts handles), from start; private. */
  sections: unknown;
}

/** A containment the actor found persisted at start: the machine begins contained. */
export interface AirlockInput { containment: AirlockContainment | null }

export type AirlockEvent =
  | { type: 'airlock.policy'; enabled: boolean; digest: string; value?: unknown }
  | { type: 'airlock.started'; downloads: unknown; sections: unknown }
  | { type: 'airlock.request'; allowed: boolean }
  | { type: 'airlock.contain'; incidentId: string; reason: string; at: number }
  | { type: 'airlock.enable' };

export const airlockMachine = setup({
  types: {} as { context: AirlockContext; events: AirlockEvent; input: AirlockInput | undefined },
  actions: {
    takePolicy: assign(({ event, context }) => (event.type === 'airlock.policy'
      ? { policyDigest: event.digest, policyEnabled: event.enabled, policy: { digest: event.digest, value: event.value } }
      : context)),
  },
  guards: {
    enables: ({ event }) => event.type === 'airlock.policy' && event.enabled,
    contained: ({ context }) => context.containment !== null,
    policyEnabled: ({ context }) => context.policyEnabled,
  },
}).createMachine({
  id: 'airlock',
  initial: 'disabled',
  context: ({ input }) => ({
    policyDigest: '', policyEnabled: false, requests: 0, denied: 0, containment: input?.containment ?? null,
    policy: null, downloads: null, sections: null,
  }),
  on: {
    'airlock.started': { actions: assign({ downloads: ({ event }) => event.downloads, sections: ({ event }) => event.sections }) },
    'airlock.request': {
      actions: assign({
        requests: ({ context }) => context.requests + 1,
        denied: ({ context, event }) => context.denied + (event.allowed ? 0 : 1),
      }),
    },
    // From any state: a second incident while contained keeps the first one's record (the one an operator clears).
    'airlock.contain': {
      target: '.contained',
      actions: assign({ containment: ({ context, event }) => context.containment ?? { incidentId: event.incidentId, reason: event.reason, at: event.at } }),
    },
  },
  states: {
    disabled: {
      // A containment persisted across a restart: contained before any request is served.
      always: { guard: 'contained', target: 'contained' },
      on: {
        'airlock.policy': [
          { guard: 'enables', target: 'enabled', actions: 'takePolicy' },
          { actions: 'takePolicy' },
        ],
      },
    },
    enabled: {
      on: {
        'airlock.policy': [
          { guard: 'enables', actions: 'takePolicy' },
          { target: 'disabled', actions: 'takePolicy' },
        ],
      },
    },
    contained: {
      on: {
        // The policy is followed (status shows it) but no reload ends a containment.
        'airlock.policy': { actions: 'takePolicy' },
        'airlock.enable': [
          { guard: 'policyEnabled', target: 'enabled', actions: assign({ containment: null }) },
          { target: 'disabled', actions: assign({ containment: null }) },
        ],
      },
    },
  },
});
