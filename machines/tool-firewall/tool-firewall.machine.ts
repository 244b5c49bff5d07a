// The tool firewall's life: it serves checks and counts its verdicts (the decisions themselves are the policy engine's).
import { assign, setup } from 'xstate';

export interface ToolFirewallContext {
  checks: number;
  denied: number;
  asked: number;
}

export type ToolFirewallEvent = { type: 'firewall.checked'; decision: 'allow' | 'deny' | 'ask' };

export const toolFirewallMachine = setup({
  types: {} as { context: ToolFirewallContext; events: ToolFirewallEvent },
}).createMachine({
  id: 'tool-firewall',
  initial: 'serving',
  context: { checks: 0, denied: 0, asked: 0 },
  states: {
    serving: {
      on: {
        'firewall.checked': {
          actions: assign({
            checks: ({ context }) => context.checks + 1,
            denied: ({ context, event }) => context.denied + (event.decision === 'deny' ? 1 : 0),
            asked: ({ context, event }) => context.asked + (event.decision === 'ask' ? 1 : 0),
          }),
        },
      },
    },
  },
});
