// The incident manager: deduplicates detections by class+key, spawns one incident machine per cause, counts tool-call denies, bounds what it holds.
import { assign, enqueueActions, setup, type AnyActorRef } from 'xstate';
import { SEVERITIES, type Detection, type IncidentClass, type Severity } from '../../contracts/detection.js';
import { incidentMachine, type ContainmentAction, type IncidentContext, type IncidentInput, type IncidentState } from './incident.machine.js';

export * from './incident.machine.js';

/** policy.yaml `incidents` as the manager applies it (policy/schemas/policy/incidents.schema.json). */
export interface IncidentsPolicy {
  /** Per class: its default severity (a detector may raise it, never lower it). */
  classes: Readonly<Record<IncidentClass, { severity: Severity }>>;
  /** Per class and severity: the containment steps, in order. A missing entry contains nothing. */
  containment: Readonly<Partial<Record<IncidentClass, Readonly<Partial<Record<Severity, readonly ContainmentAction[]>>>>>>;
  /** A detection of the same class+key within this long of the last one joins its open incident. */
  dedup_window_ms: number;
  /** This many repeats after containment escalate the incident. */
  escalate_after_repeats: number;
  /** At most this many open incidents; further distinct causes fold into one escalated overflow incident. */
  max_open: number;
  /** `denies` refused tool calls within `window_ms` are a tool_call_burst. */
  tool_call_burst: { denies: number; window_ms: number };
}

/** A live incident the manager routes to: its cause (class+key) and when the cause was last seen. */
export interface LiveEntry { dk: string; lastSeen: number }

export interface ManagerContext {
  policy: IncidentsPolicy;
  /** Live (unresolved) incidents by id: at most max_open plus the overflow incident. */
  live: Record<string, LiveEntry>;
  /** The newest live incident of each cause. */
  byKey: Record<string, string>;
  /** The overflow incident, while it is live. */
  overflow: string | null;
  /** Times of the recent tool-call denies (at most `tool_call_burst.denies` of them). */
  denies: number[];
  /** Detections seen since start. */
  detections: number;
}

export interface ManagerInput {
  policy: IncidentsPolicy;
  /** Unresolved incidents read back from disk at start, with the state each was in. */
  restored: { state: IncidentState; context: IncidentContext }[];
}

export type ManagerEvent =
  /** A detection; `id` names the incident if it opens one (the actor makes ids: the machine has no clock or randomness). */
  | { type: 'incident.detect'; detection: Detection; id: string }
  /** A refused tool call (tool-firewall `checked` with decision deny). */
  | { type: 'incident.tool_denied'; tool: string; rule: string; at: number; id: string }
  | { type: 'incident.policy'; policy: IncidentsPolicy }
  /** Forwarded to a live incident (the actor checks first that the incident can take it). */
  | { type: 'incident.ack' | 'incident.resolve'; id: string; by: string; note: string; at: number }
  /** An incident was resolved (its machine reached its final state). */
  | { type: 'incident.closed'; id: string }
  | { type: `xstate.done.actor.${string}`; output: unknown };

export const dedupKey = (d: Pick<Detection, 'class' | 'key'>) => `${d.class}|${d.key}`;
export const OVERFLOW_KEY = 'incident_flood';

const rank = (s: Severity) => SEVERITIES.indexOf(s);
/** The detector may raise the severity above the class's default in policy, never lower it. */
export const severityOf = (p: IncidentsPolicy, d: Detection): Severity => {
  const floor = p.classes[d.class as IncidentClass]?.severity ?? 'high';
  return rank(d.severity as Severity) > rank(floor) ? (d.severity as Severity) : floor;
};
export const actionsOf = (p: IncidentsPolicy, c: IncidentClass, s: Severity): readonly ContainmentAction[] => p.containment[c]?.[s] ?? [];

function inputFor(p: IncidentsPolicy, id: string, d: Detection): IncidentInput {
  const severity = severityOf(p, d);
  return { id, detection: d, severity, actions: actionsOf(p, d.class as IncidentClass, severity), escalateAfter: p.escalate_after_repeats };
}

export const managerMachine = setup({
  types: {} as { context: ManagerContext; input: ManagerInput; events: ManagerEvent },
  actors: { incident: incidentMachine },
  actions: {
    detect: enqueueActions(({ context, enqueue }, { detection: d, id }: { detection: Detection; id: string }) => {
      const dk = dedupKey(d);
      const known = context.byKey[dk];
      const entry = known ? context.live[known] : undefined;
      enqueue.assign({ detections: context.detections + 1 });
      // The same cause within the window: one incident with a count, however many detections.
      if (known && entry && d.at - entry.lastSeen <= context.policy.dedup_window_ms) {
        enqueue.sendTo(known, { type: 'incident.seen', detection: d });
        enqueue.assign({ live: { ...context.live, [known]: { dk, lastSeen: Math.max(entry.lastSeen, d.at) } } });
        return;
      }
      const open = Object.keys(context.live).length - (context.overflow ? 1 : 0);
      if (open >= context.policy.max_open) {
        // A flood of distinct causes: one overflow incident counts them; memory stays bounded.
        if (context.overflow) {
          enqueue.sendTo(context.overflow, { type: 'incident.flood', detection: d });
          enqueue.assign({ live: { ...context.live, [context.overflow]: { dk: OVERFLOW_KEY, lastSeen: d.at } } });
          return;
        }
        const flood: Detection = {
          class: d.class, key: OVERFLOW_KEY, severity: 'critical', at: d.at, target: {},
          summary: `more than ${context.policy.max_open} open incidents: further causes are folded into this one`,
          evidence: { first: { class: d.class, key: d.key, summary: d.summary } },
        };
        const input: IncidentInput = { ...inputFor(context.policy, id, flood), actions: [], escalate: `incident flood: more than ${context.policy.max_open} open incidents` };
        enqueue.spawnChild('incident', { id, input });
        enqueue.sendTo(id, { type: 'incident.flood', detection: d });
        enqueue.assign({ live: { ...context.live, [id]: { dk: OVERFLOW_KEY, lastSeen: d.at } }, overflow: id });
        return;
      }
      enqueue.spawnChild('incident', { id, input: inputFor(context.policy, id, d) });
      enqueue.assign({ live: { ...context.live, [id]: { dk, lastSeen: d.at } }, byKey: { ...context.byKey, [dk]: id } });
    }),
  },
  guards: {
    live: ({ context, event }) => context.live[(event as { id: string }).id] !== undefined,
  },
}).createMachine({
  id: 'incidents',
  initial: 'watching',
  context: ({ input }) => {
    const live: Record<string, LiveEntry> = {};
    const byKey: Record<string, string> = {};
    let overflow: string | null = null;
    for (const r of input.restored) {
      const c = r.context;
      const dk = c.key === OVERFLOW_KEY ? OVERFLOW_KEY : dedupKey(c);
      live[c.id] = { dk, lastSeen: c.lastSeen };
      if (dk === OVERFLOW_KEY) overflow = c.id;
      else if (!byKey[dk] || live[byKey[dk]]!.lastSeen <= c.lastSeen) byKey[dk] = c.id;
    }
    return { policy: input.policy, live, byKey, overflow, denies: [], detections: 0 };
  },
  // Restored incidents get their machines back, each resuming in the state it had on disk.
  entry: enqueueActions(({ enqueue, event }) => {
    const input = (event as { input?: ManagerInput }).input;
    for (const r of input?.restored ?? []) {
      enqueue.spawnChild('incident', {
        id: r.context.id,
        input: { id: r.context.id, detection: r.context.evidence[0]!, severity: r.context.severity, actions: [], escalateAfter: r.context.escalateAfter, restore: r },
      });
    }
  }),
  states: {
    watching: {
      on: {
        'incident.detect': { actions: { type: 'detect', params: ({ event }) => ({ detection: event.detection, id: event.id }) } },
        'incident.tool_denied': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { denies: n, window_ms: w } = context.policy.tool_call_burst;
            const denies = [...context.denies, event.at].filter((t) => event.at - t <= w).slice(-n);
            if (denies.length < n) {
              enqueue.assign({ denies });
              return;
            }
            enqueue.assign({ denies: [] });
            const d: Detection = {
              class: 'tool_call_burst', key: 'tool-firewall', severity: 'medium', at: event.at, target: {},
              summary: `${n} tool calls refused within ${w} ms (last: ${event.tool}, rule ${event.rule})`.slice(0, 1024),
              evidence: { denies: n, windowMs: w, firstAt: denies[0], lastAt: event.at, lastTool: event.tool, lastRule: event.rule },
            };
            enqueue({ type: 'detect', params: { detection: d, id: event.id } });
          }),
        },
      },
    },
  },
  on: {
    'incident.policy': { actions: assign({ policy: ({ event }) => event.policy }) },
    'incident.ack': { guard: 'live', actions: enqueueActions(({ event, enqueue }) => enqueue.sendTo(event.id, { type: 'incident.ack', by: event.by, note: event.note, at: event.at })) },
    'incident.resolve': { guard: 'live', actions: enqueueActions(({ event, enqueue }) => enqueue.sendTo(event.id, { type: 'incident.resolve', by: event.by, note: event.note, at: event.at })) },
    // A resolved incident: its cause is forgotten (a new detection opens a new incident); its file stays.
    'incident.closed': {
      actions: assign(({ context, event }) => {
        const live = { ...context.live };
        delete live[event.id];
        const byKey = Object.fromEntries(Object.entries(context.byKey).filter(([, id]) => id !== event.id));
        return { live, byKey, overflow: context.overflow === event.id ? null : context.overflow };
      }),
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ event, enqueue }) => {
        const id = event.type.slice('xstate.done.actor.'.length);
        enqueue.stopChild(id);
        enqueue.raise({ type: 'incident.closed', id });
      }),
    },
  },
});

/** The live incident machines of a manager snapshot, by id. */
export function liveIncidents(children: Record<string, AnyActorRef | undefined>): Record<string, AnyActorRef> {
  const out: Record<string, AnyActorRef> = {};
  for (const [id, ref] of Object.entries(children)) if (ref && (ref.getSnapshot() as { value?: unknown }).value !== undefined) out[id] = ref;
  return out;
}
