// The tool firewall's life: it serves checks, holds the policy it checks paths and rates against, the token buckets per rule, and its verdict counts.
import { assign, emit, setup } from 'xstate';
import { replyOk, type Reply, type Request } from '../request.js';

/** One rule's bucket: a burst of `capacity` calls, refilled at `refillPerSec`. */
export interface Bucket { capacity: number; refillPerSec: number; tokens: number; last: number }

/** Takes one token if there is one; a changed rate starts the bucket afresh. Pure: returns the new bucket. */
export function takeToken(b: Bucket | undefined, capacity: number, refillPerSec: number, now: number): { bucket: Bucket; taken: boolean } {
  const cur = !b || b.capacity !== capacity || b.refillPerSec !== refillPerSec ? { capacity, refillPerSec, tokens: capacity, last: now } : b;
  const tokens = Math.min(capacity, cur.tokens + (Math.max(0, now - cur.last) / 1000) * refillPerSec);
  const last = Math.max(cur.last, now);
  return tokens < 1 ? { bucket: { ...cur, tokens, last }, taken: false } : { bucket: { ...cur, tokens: tokens - 1, last }, taken: true };
}

export interface ToolFirewallContext {
  checks: number;
  denied: number;
  asked: number;
  /** The policy in force as last fetched from the policy actor (by digest); private, large. */
  policy: { digest: string; value: unknown } | null;
  buckets: Record<string, Bucket>;
}

export type ToolFirewallEvent =
  | { type: 'firewall.checked'; decision: 'allow' | 'deny' | 'ask' }
  | { type: 'firewall.policy'; digest: string; value: unknown }
  | ({ type: 'firewall.take'; key: string; capacity: number; refillPerSec: number; now: number } & Request);

/** At most this many buckets (rules) are kept; a policy with more rules than this is not plausible. */
const MAX_BUCKETS = 4096;

export const toolFirewallMachine = setup({
  types: {} as { context: ToolFirewallContext; events: ToolFirewallEvent; emitted: Reply },
}).createMachine({
  id: 'tool-firewall',
  initial: 'serving',
  context: { checks: 0, denied: 0, asked: 0, policy: null, buckets: {} },
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
        'firewall.policy': { actions: assign({ policy: ({ event }) => ({ digest: event.digest, value: event.value }) }) },
        'firewall.take': {
          actions: [
            emit(({ context, event }) => replyOk(event.requestId, takeToken(context.buckets[event.key], event.capacity, event.refillPerSec, event.now).taken)),
            assign({
              buckets: ({ context, event }) => {
                const { bucket } = takeToken(context.buckets[event.key], event.capacity, event.refillPerSec, event.now);
                const rest = Object.keys(context.buckets).length >= MAX_BUCKETS && !context.buckets[event.key] ? {} : context.buckets;
                return { ...rest, [event.key]: bucket };
              },
            }),
          ],
        },
      },
    },
  },
});
