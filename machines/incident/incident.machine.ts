// One incident's whole life as a machine: open (containing, one state per step) → contained → acknowledged → resolved, or escalated.
import { assign, enqueueActions, fromPromise, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import type { Detection, IncidentClass, Severity } from '../../contracts/detection.js';
import { notProvided } from '../not-provided.js';

/** The closed set of containment actions policy may name (policy/schemas/policy/incidents.schema.json). */
export const CONTAINMENT_ACTIONS = ['lock_vault', 'end_sessions', 'disable_airlock', 'suspend_model', 'evict_model', 'freeze_agent'] as const;
export type ContainmentAction = (typeof CONTAINMENT_ACTIONS)[number];

export type StepStatus = 'pending' | 'done' | 'failed' | 'skipped';
/** One containment step and what came of it: `detail` is the other actor's answer, its error, or why it was skipped. */
export interface Step { action: ContainmentAction; status: StepStatus; detail: string; at: number | null }

/** What a step's effect resolves with (a refused or missing op is `failed` with its error as detail; a rejection too). */
export interface StepOutcome { status: 'done' | 'skipped' | 'failed'; detail: string; at: number }

/** The incident states as persisted, listed and published (the machine's own state value, flattened). */
export const INCIDENT_STATES = ['open', 'contained', 'escalated', 'acknowledged', 'resolved'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** One line of an incident's timeline: a transition, who caused it (an operator key id) and their note. */
export interface TimelineEntry { at: number; state: IncidentState | 'repeated'; reason: string; by?: string; note?: string }

/** The first detections and the latest ones are kept as evidence; the ones between are only counted. */
export const MAX_EVIDENCE = 20;
const FIRST_KEPT = 5;
/** At most this many timeline lines (the oldest repeats go first; transitions are few). */
export const MAX_TIMELINE = 64;

export interface IncidentContext {
  id: string;
  class: IncidentClass;
  key: string;
  severity: Severity;
  summary: string;
  target: NonNullable<Detection['target']>;
  /** Detections of this cause so far (the first included). */
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** Repeats since the incident was contained (or acknowledged): past `escalateAfter` it escalates. */
  repeatsSinceContained: number;
  escalateAfter: number;
  evidence: Detection[];
  steps: Step[];
  timeline: TimelineEntry[];
  /** Why it escalated (a failed step, repeats, a flood of incidents). */
  escalation: string | null;
  /** Set by the manager for its overflow incident: distinct causes folded into it, by class, and a sample of keys. */
  flood: { distinct: number; byClass: Record<string, number>; sample: string[] } | null;
}

export interface IncidentInput {
  id: string;
  detection: Detection;
  severity: Severity;
  actions: readonly ContainmentAction[];
  escalateAfter: number;
  /** A restored incident (from disk): its context and the state it was in; pending steps run again (every step is idempotent). */
  restore?: { state: IncidentState; context: IncidentContext };
  /** Start escalated with this reason (the manager's overflow incident). */
  escalate?: string;
}

export type IncidentEvent =
  | { type: 'incident.seen'; detection: Detection }
  | { type: 'incident.ack'; by: string; note: string; at: number }
  | { type: 'incident.resolve'; by: string; note: string; at: number }
  | { type: 'incident.flood'; detection: Detection };

export type Announcement = 'opened' | 'contained' | 'escalated' | 'acknowledged' | 'resolved' | 'updated';

/** Repeats are told at 2, 4, 8 … and every 1000th: a storm of one cause is a handful of events, not thousands. */
export const worthTelling = (count: number) => (count & (count - 1)) === 0 || count % 1000 === 0;


const OPERATOR_KEY_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
/** A web session that proved the passphrase again (auth.incident_act): its public handle, never its id. No key id has a space. */
const WEB_OPERATOR = /^web operator \(session [0-9a-f]{16}\)$/;
export const webOperator = (handle: string) => `web operator (session ${handle})`;
/** Only an operator event names who: the actor puts the verified key id of the signed command there, or the web operator. */
const byOperator = (e: { by?: unknown }) => typeof e.by === 'string' && (OPERATOR_KEY_ID.test(e.by) || WEB_OPERATOR.test(e.by));

export function keepEvidence(evidence: readonly Detection[], d: Detection): Detection[] {
  if (evidence.length < MAX_EVIDENCE) return [...evidence, d];
  return [...evidence.slice(0, FIRST_KEPT), ...evidence.slice(FIRST_KEPT + 1), d];
}

const line = (timeline: readonly TimelineEntry[], e: TimelineEntry): TimelineEntry[] => {
  const next = [...timeline, e];
  if (next.length <= MAX_TIMELINE) return next;
  const i = next.findIndex((x) => x.state === 'repeated');
  return i >= 0 ? [...next.slice(0, i), ...next.slice(i + 1)] : next.slice(1);
};

export function initialContext(input: IncidentInput): IncidentContext {
  if (input.restore) return input.restore.context;
  const d = input.detection;
  return {
    id: input.id, class: d.class as IncidentClass, key: d.key, severity: input.severity, summary: d.summary, target: d.target ?? {},
    count: 1, firstSeen: d.at, lastSeen: d.at, repeatsSinceContained: 0, escalateAfter: input.escalateAfter,
    evidence: [d], steps: input.escalate ? [] : input.actions.map((action) => ({ action, status: 'pending' as const, detail: '', at: null })),
    timeline: [{ at: d.at, state: 'open', reason: d.summary }], escalation: null, flood: null,
  };
}

const nextPending = (c: IncidentContext) => c.steps.findIndex((s) => s.status === 'pending');

type StepDone = DoneActorEvent<StepOutcome>;

export const incidentMachine = setup({
  types: {} as { context: IncidentContext; input: IncidentInput; events: IncidentEvent; output: { id: string } },
  actors: {
    /** Runs one containment action against the other actors (the incident actor provides it). */
    contain: fromPromise<StepOutcome, { action: ContainmentAction; incident: IncidentContext }>(notProvided('contain')),
  },
  actions: {
    /** A transition or a count worth telling: the actor publishes secai.evt.incident.<kind> (the audit chain holds it). */
    announce: (_, _p: { kind: Announcement; reason?: string }) => {},
    seen: enqueueActions(({ context, event, enqueue }) => {
      const d = (event as { detection: Detection }).detection;
      enqueue.assign({ count: context.count + 1, lastSeen: Math.max(context.lastSeen, d.at), evidence: keepEvidence(context.evidence, d) });
      if (worthTelling(context.count + 1)) enqueue({ type: 'announce', params: { kind: 'updated' } } as never);
    }),
    repeatedAfterContainment: assign(({ context }) => ({ repeatsSinceContained: context.repeatsSinceContained + 1 })),
    escalateOnRepeats: assign(({ context, event }) => {
      const d = (event as { detection: Detection }).detection;
      const reason = `the same cause repeated ${context.repeatsSinceContained} times after containment (policy: ${context.escalateAfter})`;
      return { escalation: reason, timeline: line(context.timeline, { at: d.at, state: 'escalated', reason }) };
    }),
    flood: assign(({ context, event }) => {
      const d = (event as { detection: Detection }).detection;
      const f = context.flood ?? { distinct: 0, byClass: {}, sample: [] };
      return {
        count: context.count + 1, lastSeen: Math.max(context.lastSeen, d.at),
        flood: { distinct: f.distinct + 1, byClass: { ...f.byClass, [d.class]: (f.byClass[d.class] ?? 0) + 1 }, sample: [...f.sample, `${d.class}:${d.key}`].slice(-20) },
      };
    }),
    stepDone: assign(({ context, event }) => {
      const out = (event as unknown as StepDone).output;
      const i = nextPending(context);
      return { steps: context.steps.map((s, j) => (j === i ? { ...s, status: out.status, detail: out.detail.slice(0, 1024), at: out.at } : s)) };
    }),
    stepFailed: assign(({ context, event }) => {
      const err = (event as unknown as ErrorActorEvent).error as { code?: string; message?: string } | undefined;
      const detail = `${err?.code ?? 'error'}: ${err?.message ?? String(err)}`.slice(0, 1024);
      const i = nextPending(context);
      return { steps: context.steps.map((s, j) => (j === i ? { ...s, status: 'failed' as const, detail, at: null } : s)) };
    }),
    markContained: assign(({ context }) => ({
      repeatsSinceContained: 0,
      timeline: line(context.timeline, { at: context.lastSeen, state: 'contained', reason: context.steps.length ? context.steps.map((s) => `${s.action}: ${s.status}`).join(', ') : 'no containment in policy for this class and severity' }),
    })),
    escalateOnFailure: assign(({ context }) => {
      const failed = context.steps.filter((s) => s.status === 'failed');
      const reason = `containment failed: ${failed.map((s) => `${s.action} (${s.detail})`).join('; ')}`.slice(0, 1024);
      return { escalation: reason, timeline: line(context.timeline, { at: context.lastSeen, state: 'escalated', reason }) };
    }),
    markAck: assign(({ context, event }) => {
      const e = event as { by: string; note: string; at: number };
      return { repeatsSinceContained: 0, timeline: line(context.timeline, { at: e.at, state: 'acknowledged', reason: 'acknowledged by an operator', by: e.by, note: e.note }) };
    }),
    markResolved: assign(({ context, event }) => {
      const e = event as { by: string; note: string; at: number };
      return { timeline: line(context.timeline, { at: e.at, state: 'resolved', reason: 'resolved by an operator', by: e.by, note: e.note }) };
    }),
  },
  guards: {
    stepPending: ({ context }) => nextPending(context) >= 0,
    anyFailed: ({ context }) => context.steps.some((s) => s.status === 'failed'),
    pastThreshold: ({ context }) => context.repeatsSinceContained >= context.escalateAfter,
    byOperator: ({ event }) => byOperator(event as { by?: unknown }),
  },
}).createMachine({
  id: 'incident',
  initial: 'starting',
  context: ({ input }) => initialContext(input),
  states: {
    // Where a new incident starts, or a restored one resumes (the state it had on disk).
    starting: {
      always: [
        { guard: ({ event }) => restored(event) === 'contained', target: 'contained' },
        { guard: ({ event }) => restored(event) === 'escalated', target: 'escalated' },
        { guard: ({ event }) => restored(event) === 'acknowledged', target: 'acknowledged' },
        { guard: ({ event }) => restored(event) === 'resolved', target: 'resolved' },
        {
          guard: ({ event }) => typeof escalateReason(event) === 'string',
          target: 'escalated',
          actions: [
            assign(({ context, event }) => ({ escalation: escalateReason(event)!, timeline: line(context.timeline, { at: context.firstSeen, state: 'escalated', reason: escalateReason(event)! }) })),
            { type: 'announce', params: { kind: 'escalated' } },
          ],
        },
        { target: 'open', actions: { type: 'announce', params: { kind: 'opened' } } },
      ],
    },
    open: {
      initial: 'checking',
      on: { 'incident.seen': { actions: 'seen' }, 'incident.flood': { actions: 'flood' } },
      states: {
        checking: {
          always: [
            { guard: 'stepPending', target: 'containing' },
            { guard: 'anyFailed', target: '#incident.escalated', actions: ['escalateOnFailure', { type: 'announce', params: { kind: 'escalated' } }] },
            { target: '#incident.contained', actions: ['markContained', { type: 'announce', params: { kind: 'contained' } }] },
          ],
        },
        // One step at a time, in policy order: the chart shows which one runs.
        containing: {
          invoke: {
            src: 'contain',
            input: ({ context }) => ({ action: context.steps[nextPending(context)]!.action, incident: context }),
            onDone: { target: 'checking', actions: 'stepDone' },
            onError: { target: 'checking', actions: 'stepFailed' },
          },
        },
      },
    },
    contained: {
      on: {
        'incident.seen': [
          { guard: ({ context }) => context.repeatsSinceContained + 1 >= context.escalateAfter, target: 'escalated', actions: ['seen', 'repeatedAfterContainment', 'escalateOnRepeats', { type: 'announce', params: { kind: 'escalated' } }] },
          { actions: ['seen', 'repeatedAfterContainment'] },
        ],
        'incident.flood': { actions: 'flood' },
        'incident.ack': { guard: 'byOperator', target: 'acknowledged', actions: ['markAck', { type: 'announce', params: { kind: 'acknowledged' } }] },
      },
    },
    escalated: {
      on: {
        'incident.seen': { actions: 'seen' },
        'incident.flood': { actions: 'flood' },
        'incident.ack': { guard: 'byOperator', target: 'acknowledged', actions: ['markAck', { type: 'announce', params: { kind: 'acknowledged' } }] },
      },
    },
    acknowledged: {
      on: {
        'incident.seen': [
          { guard: ({ context }) => context.repeatsSinceContained + 1 >= context.escalateAfter, target: 'escalated', actions: ['seen', 'repeatedAfterContainment', 'escalateOnRepeats', { type: 'announce', params: { kind: 'escalated' } }] },
          { actions: ['seen', 'repeatedAfterContainment'] },
        ],
        'incident.flood': { actions: 'flood' },
        // Resolve only after an acknowledgement: an operator has looked at it first (docs/incidents.md).
        'incident.resolve': { guard: 'byOperator', target: 'resolved', actions: ['markResolved', { type: 'announce', params: { kind: 'resolved' } }] },
      },
    },
    // Final: the manager hears `xstate.done.actor.<id>`, forgets the cause and stops the machine (the file stays).
    resolved: { type: 'final' },
  },
  output: ({ context }) => ({ id: context.id }),
});

// The init event carries the input: a restored incident resumes where it was; the overflow incident starts escalated.
function restored(event: unknown): IncidentState | undefined {
  return (event as { input?: IncidentInput }).input?.restore?.state;
}
function escalateReason(event: unknown): string | undefined {
  return (event as { input?: IncidentInput }).input?.escalate;
}

/** The state an incident is in, as lists and files name it. */
export function stateOf(value: unknown): IncidentState {
  if (typeof value === 'string') return (value === 'starting' ? 'open' : value) as IncidentState;
  return 'open';
}
