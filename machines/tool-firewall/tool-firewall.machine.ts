// The tool firewall's life: it serves checks and calls, holds the policy it checks paths and rates against, the token buckets per rule,
// the key capability tokens are verified with, the nonces of tokens already used, and its verdict counts.
import { assign, emit, setup } from 'xstate';
import { spendNonce, type SpentSet } from '../../policy/capability/spent.js';
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
  /** The policy actor's capability public key (policy.capability_key), fetched on first use. */
  capabilityKey: Uint8Array | null;
  /** Nonces of capability tokens already presented, each until its token expires (single use). */
  spent: SpentSet;
  calls: number;
  refused: number;
}

export type ToolFirewallEvent =
  | { type: 'firewall.checked'; decision: 'allow' | 'deny' | 'ask' }
  | { type: 'firewall.policy'; digest: string; value: unknown }
  | ({ type: 'firewall.take'; key: string; capacity: number; refillPerSec: number; now: number } & Request)
  | { type: 'firewall.capability_key'; publicKey: Uint8Array }
  /** Spends a verified token's nonce; answered 'ok', 'replayed' or 'full'. */
  | ({ type: 'firewall.spend'; nonce: string; expiresAt: number; now: number } & Request)
  | { type: 'firewall.called'; ok: boolean };

/** At most this many buckets (rules) are kept; a policy with more rules than this is not plausible. */
const MAX_BUCKETS = 4096;

export const toolFirewallMachine = setup({
  types: {} as { context: ToolFirewallContext; events: ToolFirewallEvent; emitted: Reply },
}).createMachine({
  id: 'tool-firewall',
  initial: 'serving',
  context: { checks: 0, denied: 0, asked: 0, policy: null, buckets: {}, capabilityKey: null, spent: {}, calls: 0, refused: 0 },
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
        'firewall.capability_key': { actions: assign({ capabilityKey: ({ event }) => event.publicKey }) },
        'firewall.spend': {
          actions: [
            emit(({ context, event }) => {
              const r = spendNonce(context.spent, event.nonce, event.expiresAt, event.now);
              return replyOk(event.requestId, r.ok ? 'ok' : r.reason);
            }),
            assign({ spent: ({ context, event }) => spendNonce(context.spent, event.nonce, event.expiresAt, event.now).set }),
          ],
        },
        'firewall.called': {
          actions: assign({
            calls: ({ context }) => context.calls + 1,
            refused: ({ context, event }) => context.refused + (event.ok ? 0 : 1),
          }),
        },
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
