// The policy engine's life: serving one policy version (held in the context); a reload loads the file and swaps it only if valid; allow decisions are tallied for the audit chain.
import { assign, emit, fromCallback, fromPromise, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { spendNonce, type SpentSet } from '../../policy/capability/spent.js';
import { notProvided } from '../not-provided.js';
import { replyError, replyOk, type Reply, type Request } from '../request.js';

/** The policy in force, as the actor loaded it (the value's shape is the policy layer's; the machine only holds it). */
export interface LoadedPolicy { digest: string; path: string; loadedAt: number; value: unknown }

/** `changed`: sections whose digest changed; `restart`: changed keys that apply only after a restart, and why. */
export type ReloadResult =
  | { ok: true; digest: string; previous: string; changed: string[]; restart: { section: string; keys: string[]; reason: string }[] }
  | { ok: false; error: string; kept: string };

/** Allow decisions per (domain, rule) since `since`: evidence for the audit chain without one event per allow. */
export interface AllowTally { since: number; counts: Record<string, { domain: string; rule: string; n: number }> }

export interface PolicyContext {
  digest: string;
  reloads: number;
  lastReload: ReloadResult | null;
  /** Private (large): the actor decides against it; only the digest is published. */
  current: LoadedPolicy;
  allows: AllowTally;
  /** The reload request the running load will answer. */
  pending: string | null;
  /** Private: the Ed25519 key capability tokens are minted with (loaded at start from keys/capability.ed25519). */
  capabilityKey: { publicKey: Uint8Array; secretKey: Uint8Array } | null;
  /** Nonces of operator approvals already turned into a token, until their envelope leaves the replay window. */
  approvals: SpentSet;
  /** Approvals a web session recorded (auth.agent_act → policy.approve_web), each spent by one mint of its exact step. */
  webApprovals: WebApproval[];
}

/** One plan step a web session approved: policy.mint spends it only for this planId, step and intentHash, before `until`. */
export interface WebApproval { planId: string; step: number; intentHash: string; by: string; until: number }

/** At most this many web approvals wait at once: more is refused (the agent runs at most a few tasks). */
export const MAX_WEB_APPROVALS = 64;

const liveWeb = (list: readonly WebApproval[], now: number) => list.filter((a) => a.until > now);
const sameStep = (a: WebApproval, b: { planId: string; step: number }) => a.planId === b.planId && a.step === b.step;

/** Records `a` (a newer approval of the same step replaces the older); refused when the table is full. */
export function recordWebApproval(list: readonly WebApproval[], a: WebApproval, now: number): { ok: boolean; list: WebApproval[] } {
  const live = liveWeb(list, now).filter((x) => !sameStep(x, a));
  if (live.length >= MAX_WEB_APPROVALS) return { ok: false, list: live };
  return { ok: true, list: [...live, a] };
}

/** Spends the live approval of exactly this step and intent: `by` whom, or null (none, expired, or another intent). */
export function spendWebApproval(list: readonly WebApproval[], q: { planId: string; step: number; intentHash: string }, now: number): { by: string | null; list: WebApproval[] } {
  const live = liveWeb(list, now);
  const hit = live.find((x) => sameStep(x, q) && x.intentHash === q.intentHash);
  return hit ? { by: hit.by, list: live.filter((x) => x !== hit) } : { by: null, list: live };
}

export interface PolicyInput { current: LoadedPolicy; capabilityKey?: { publicKey: Uint8Array; secretKey: Uint8Array } }

export type PolicyEvent =
  | ({ type: 'policy.reload' } & Request)
  /** A decision made against `current` (decide() is pure policy code, run by the actor): allows are tallied, the rest reported. */
  | { type: 'policy.decided'; result: { domain: string; rule: string; decision: string } & Record<string, unknown> }
  /** Hands over the allow tally (and starts a new one): from the ticker, or asked for at stop. */
  | ({ type: 'policy.flush'; now: number } & Partial<Request>)
  /** Spends an approval's nonce (one approval, one token); answered true, or false when it was used already. */
  | ({ type: 'policy.approval'; nonce: string; until: number; now: number } & Request)
  /** Records a web session's approval of one plan step; answered with it, or refused when the table is full. */
  | ({ type: 'policy.approve_web'; approval: WebApproval; now: number } & Request)
  /** Spends the web approval of exactly this step and intent (one approval, one token); answered with `by`, or null. */
  | ({ type: 'policy.spend_web'; planId: string; step: number; intentHash: string; now: number } & Request);

/** At most this many (domain, rule) pairs are tallied per window. */
export const MAX_TALLIED = 1024;

export const policyMachine = setup({
  types: {} as { context: PolicyContext; input: PolicyInput; events: PolicyEvent; emitted: Reply },
  actors: {
    /** Loads and validates policy.yaml; a bad file is an outcome ({ ok: false }), not a failure of the machine. */
    loadPolicy: fromPromise<{ result: ReloadResult; loaded?: LoadedPolicy }, { previous: string; current: LoadedPolicy }>(notProvided('loadPolicy')),
    /** Sends policy.flush every so often (the allow-summary window). */
    ticker: fromCallback(notProvided('ticker')),
  },
  actions: {
    reportReload: notProvided('reportReload'),
    /** Publishes a deny or ask (the reply does not wait for the audit ack). */
    reportDecision: notProvided('reportDecision'),
    /** Publishes the allow tally (summary(context, event.now)) when it is not empty. */
    reportAllows: notProvided('reportAllows'),
  },
}).createMachine({
  id: 'policy',
  initial: 'serving',
  context: ({ input }) => ({ digest: input.current.digest, reloads: 0, lastReload: null, current: input.current, allows: { since: input.current.loadedAt, counts: {} }, pending: null,
    capabilityKey: input.capabilityKey ?? null, approvals: {}, webApprovals: [],
  }),
  invoke: { id: 'ticker', src: 'ticker' },
  on: {
    'policy.decided': [
      {
        guard: ({ event }) => event.result.decision === 'allow',
        actions: assign({
          allows: ({ context, event }) => {
            const key = `${event.result.domain}\u0000${event.result.rule}`;
            const c = context.allows.counts[key];
            if (!c && Object.keys(context.allows.counts).length >= MAX_TALLIED) return context.allows;
            return { ...context.allows, counts: { ...context.allows.counts, [key]: { domain: event.result.domain, rule: event.result.rule, n: (c?.n ?? 0) + 1 } } };
          },
        }),
      },
      { actions: 'reportDecision' },
    ],
    // A fresh window after each: the summary goes to the asker (at stop, who publishes it) or out (the ticker).
    'policy.flush': [
      { guard: ({ event }) => event.requestId !== undefined, actions: [emit(({ context, event }) => replyOk(event.requestId ?? '', summary(context, event.now) ?? null)), assign({ allows: ({ event }) => ({ since: event.now, counts: {} }) })] },
      { actions: ['reportAllows', assign({ allows: ({ event }) => ({ since: event.now, counts: {} }) })] },
    ],
    'policy.reload': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.NOT_READY, message: 'a reload is already running' })) },
    'policy.approval': {
      actions: [
        emit(({ context, event }) => replyOk(event.requestId, spendNonce(context.approvals, event.nonce, event.until, event.now).ok)),
        assign({ approvals: ({ context, event }) => spendNonce(context.approvals, event.nonce, event.until, event.now).set }),
      ],
    },
    'policy.approve_web': [
      {
        guard: ({ context, event }) => recordWebApproval(context.webApprovals, event.approval, event.now).ok,
        actions: [
          assign({ webApprovals: ({ context, event }) => recordWebApproval(context.webApprovals, event.approval, event.now).list }),
          emit(({ event }) => replyOk(event.requestId, event.approval)),
        ],
      },
      { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.RATE_LIMITED, message: `${MAX_WEB_APPROVALS} web approvals wait already` })) },
    ],
    'policy.spend_web': {
      actions: [
        emit(({ context, event }) => replyOk(event.requestId, spendWebApproval(context.webApprovals, event, event.now).by)),
        assign({ webApprovals: ({ context, event }) => spendWebApproval(context.webApprovals, event, event.now).list }),
      ],
    },
  },
  states: {
    serving: { on: { 'policy.reload': { target: 'reloading', actions: assign({ pending: ({ event }) => event.requestId }) } } },
    reloading: {
      invoke: {
        id: 'loadPolicy',
        src: 'loadPolicy',
        input: ({ context }) => ({ previous: context.digest, current: context.current }),
        onDone: {
          target: 'serving',
          actions: [
            // The swap is one assignment: every decision sees the old policy or the new one, never a mix.
            assign({
              lastReload: ({ event }) => event.output.result,
              digest: ({ context, event }) => event.output.loaded?.digest ?? context.digest,
              current: ({ context, event }) => event.output.loaded ?? context.current,
              reloads: ({ context }) => context.reloads + 1,
            }),
            'reportReload',
            emit(({ context }) => replyOk(context.pending ?? '', context.lastReload)),
            assign({ pending: null }),
          ],
        },
        onError: {
          target: 'serving',
          actions: [
            assign({
              lastReload: ({ context, event }) => ({ ok: false as const, error: String((event.error as Error)?.message ?? event.error), kept: context.digest }),
              reloads: ({ context }) => context.reloads + 1,
            }),
            'reportReload',
            emit(({ context }) => replyOk(context.pending ?? '', context.lastReload)),
            assign({ pending: null }),
          ],
        },
      },
    },
  },
});

/** The allow tally as the `allows` event carries it, or undefined when there were none. */
export function summary(c: PolicyContext, now: number) {
  const counts = Object.values(c.allows.counts);
  return counts.length ? { since: c.allows.since, until: now, policyDigest: c.digest, counts } : undefined;
}
