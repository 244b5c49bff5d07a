// One actor slot under the supervisor: starting → ready → unresponsive → backoff → starting …, or failed when it keeps dying.
import { and, assign, setup, type AnyStateMachine } from 'xstate';
import { notProvided } from '../not-provided.js';
import { DEFAULT_BACKOFF, givesUp, nextDelay, type BackoffPolicy } from './backoff.js';

export interface SlotContext {
  name: string;
  policy: BackoffPolicy;
  /** Heartbeats left unanswered before the slot counts as unresponsive. */
  missedLimit: number;
  pid: number;
  /** Restarts done so far (the first start is not one). */
  restarts: number;
  /** Consecutive short-lived runs (the backoff streak). */
  streak: number;
  /** The delay the slot waits in `backoff`. */
  delayMs: number;
  /**
   * Beats without proof of life since the last answer: each beat a ping is outstanding, or the kernel reports the
   * process stopped. Zero while the actor is known alive.
   */
  missed: number;
  /** Bus pings (`<actor>.ping` over nats) left unanswered in a row while the IPC heartbeat was answered. */
  busMissed: number;
  /** Unanswered bus pings before a process whose loop runs but whose bus connection is dead counts as unresponsive. */
  busMissedLimit: number;
  /** Beats in a row the process used CPU without answering (a long synchronous job such as Argon2id, not a hang). */
  busy: number;
  /** Busy beats tolerated before a process that computes but never answers counts as unresponsive too. */
  busyLimit: number;
  /** When the current run began (from the events: the machine has no clock). */
  startedAt: number;
  /** The current run was killed by the supervisor (its exit is not its own failure's reason). */
  killed: boolean;
  lastReason: string;
}

export interface SlotInput {
  name: string;
  policy?: BackoffPolicy;
  missedLimit?: number;
  busyLimit?: number;
  busMissedLimit?: number;
}

export type SlotEvent =
  /** The process was forked. */
  | { type: 'slot.spawned'; pid: number; at: number }
  /** The actor reported ready over IPC. */
  | { type: 'slot.ready'; pid: number; at: number }
  /**
   * A heartbeat interval passed, with what the kernel says of the process (read from /proc by the supervisor, which
   * wakes nobody): `stopped` (SIGSTOP, a tracer) cannot answer anything; `computing` used CPU since the last beat.
   * `pingDue`: the supervisor's cadence asks this beat for an answer from the actor's own event loop.
   */
  | { type: 'slot.beat_due'; stopped: boolean; computing: boolean; pingDue: boolean }
  /** The actor answered a heartbeat. */
  | { type: 'slot.heartbeat' }
  /** The actor answered a ping over the bus: its connection and subscriptions work, not only its event loop. */
  | { type: 'slot.bus_answered' }
  /** A ping over the bus went unanswered (timeout, no responders) while the bus itself answers the supervisor. */
  | { type: 'slot.bus_missed' }
  | { type: 'slot.exited'; code: number | null; signal: string | null; at: number }
  /** The appliance is stopping: nothing restarts any more. */
  | { type: 'slot.stop' };

export const SLOT_STATES = ['starting', 'ready', 'unresponsive', 'backoff', 'failed', 'stopped'] as const;
export type SlotState = (typeof SLOT_STATES)[number];


const beatOf = (e: SlotEvent) => e as Extract<SlotEvent, { type: 'slot.beat_due' }>;
const exitOf = (e: SlotEvent) => e as Extract<SlotEvent, { type: 'slot.exited' }>;
const afterExit = (c: SlotContext, e: SlotEvent) => nextDelay(c.policy, c.streak, exitOf(e).at - c.startedAt);
const reasonOf = (e: SlotEvent) => { const x = exitOf(e); return `exit ${x.code ?? x.signal ?? 'unknown'}`; };

const slotSetup = setup({
  types: {} as { context: SlotContext; events: SlotEvent; input: SlotInput },
  actions: {
    /** Fork the actor's process (the runner answers with slot.spawned, then slot.ready or slot.exited). */
    spawn: notProvided('spawn'),
    /** SIGKILL the process: a hung process does not read SIGTERM. */
    kill: notProvided('kill'),
    /** The due liveness check: a `ping` over the bus (its answer proves the loop and the connection), over IPC while the bus is down. */
    ping: notProvided('ping'),
    /** A heartbeat over the IPC channel: the loop alone, whatever the bus does. */
    sendHeartbeat: notProvided('sendHeartbeat'),
    reportStarted: notProvided('reportStarted'),
    reportExited: notProvided('reportExited'),
    reportUnresponsive: notProvided('reportUnresponsive'),
    reportFailed: notProvided('reportFailed'),
    recordExit: assign(({ context, event }) => {
      const b = afterExit(context, event);
      return { streak: b.streak, delayMs: b.delayMs, pid: 0, missed: 0, lastReason: context.killed ? context.lastReason : reasonOf(event) };
    }),
  },
  guards: {
    givesUp: ({ context, event }) => givesUp(context.policy, afterExit(context, event).streak),
    overdue: ({ context }) => context.missed >= context.missedLimit,
    stopped: ({ event }) => beatOf(event).stopped,
    /** A ping is outstanding: every beat counts until the answer comes. */
    awaiting: ({ context }) => context.missed > 0,
    computing: ({ event }) => beatOf(event).computing,
    pingDue: ({ event }) => beatOf(event).pingDue,
    busyTooLong: ({ context }) => context.busy + 1 >= context.busyLimit,
    /** Only a process that answers its IPC heartbeat counts bus misses: a stopped or busy one is the IPC path's case. */
    loopAlive: ({ context }) => context.missed <= 1 && context.busy === 0,
    busOverdue: ({ context }) => context.busMissed + 1 >= context.busMissedLimit,
  },
  delays: {
    readyTimeout: 60_000,
    backoffDelay: ({ context }) => context.delayMs,
  },
});

type SlotConfig = Parameters<typeof slotSetup.createMachine>[0];

const onExit = [
  { guard: 'givesUp', target: 'failed', actions: ['recordExit', 'reportExited'] },
  { target: 'backoff', actions: ['recordExit', 'reportExited'] },
] as const;

/** The slot's states; shared by the running machine and the supervisor's chart (one region per actor). */
const slotStates = {
  starting: {
    entry: [assign({ missed: 0, busy: 0, busMissed: 0, killed: false }), 'spawn'],
    on: {
      'slot.spawned': { actions: assign({ pid: ({ event }) => event.pid, startedAt: ({ event }) => event.at }) },
      'slot.ready': { target: 'ready', actions: [assign({ pid: ({ event }) => event.pid, startedAt: ({ event }) => event.at }), 'reportStarted'] },
      'slot.exited': onExit,
    },
    after: { readyTimeout: { target: 'unresponsive', actions: assign({ killed: true, lastReason: 'not ready in time' }) } },
  },
  ready: {
    on: {
      // Liveness in two layers. Every beat: the kernel's view, which costs the actor nothing (a stopped process is
      // counted at once). Every few beats a ping over the bus, then every beat while it is unanswered a heartbeat over
      // IPC: its event loop must answer one of them (a loop hung while the process looks runnable is caught there).
      'slot.beat_due': [
        { guard: 'overdue', target: 'unresponsive', actions: assign({ killed: true, lastReason: ({ context }) => `unresponsive: ${context.missed} heartbeats unanswered` }) },
        { guard: 'stopped', actions: [assign({ missed: ({ context }) => context.missed + 1, busy: 0 }), 'sendHeartbeat'] },
        // A process that computes is given longer than one that is stopped or blocked, but not forever.
        {
          guard: and(['awaiting', 'computing', 'busyTooLong']), target: 'unresponsive',
          actions: assign({ killed: true, lastReason: ({ context }) => `unresponsive: busy without answering for ${context.busy + 1} heartbeats` }),
        },
        { guard: and(['awaiting', 'computing']), actions: [assign({ busy: ({ context }) => context.busy + 1 }), 'sendHeartbeat'] },
        { guard: 'awaiting', actions: [assign({ missed: ({ context }) => context.missed + 1 }), 'sendHeartbeat'] },
        { guard: 'pingDue', actions: [assign({ missed: 1 }), 'ping'] },
      ],
      'slot.heartbeat': { actions: assign({ missed: 0, busy: 0 }) },
      // Answered over the bus: its loop turns and its connection carries requests.
      'slot.bus_answered': { actions: assign({ missed: 0, busy: 0, busMissed: 0 }) },
      // Its loop answers the supervisor over IPC but nothing reaches it over the bus (a dead connection, lost
      // subscriptions): it serves nobody, so it is restarted like a hung one.
      'slot.bus_missed': [
        {
          guard: and(['loopAlive', 'busOverdue']), target: 'unresponsive',
          actions: assign({ killed: true, lastReason: ({ context }) => `unresponsive: ${context.busMissed + 1} bus pings unanswered while its IPC heartbeat answered` }),
        },
        { guard: 'loopAlive', actions: assign({ busMissed: ({ context }) => context.busMissed + 1 }) },
      ],
      'slot.exited': onExit,
    },
  },
  // Killed, waiting for the exit: the restart goes through backoff like any other death.
  unresponsive: {
    entry: ['reportUnresponsive', 'kill'],
    on: { 'slot.exited': onExit },
  },
  backoff: {
    after: { backoffDelay: { target: 'starting', actions: assign({ restarts: ({ context }) => context.restarts + 1 }) } },
  },
  // Gave up: the operator sees it in status and health; a restart of the appliance starts it again.
  failed: { entry: 'reportFailed' },
  stopped: { type: 'final' },
} satisfies SlotConfig['states'];

export const slotMachine = slotSetup.createMachine({
  id: 'slot',
  initial: 'starting',
  context: ({ input }) => ({
    name: input.name, policy: input.policy ?? DEFAULT_BACKOFF, missedLimit: input.missedLimit ?? 3, busyLimit: input.busyLimit ?? 30, busMissedLimit: input.busMissedLimit ?? 3,
    pid: 0, restarts: 0, streak: 0, delayMs: 0, missed: 0, busy: 0, busMissed: 0, startedAt: 0, killed: false, lastReason: '',
  }),
  on: { 'slot.stop': '.stopped' },
  states: slotStates,
});

/**
 * What the Machines page draws for the supervisor: one region per actor slot, each the slot machine's states.
 * Never run; the live value is `{ <actor>: <slot state> }`, which highlights one state per region.
 */
export function supervisionChart(actors: readonly string[]): AnyStateMachine {
  const region = { initial: 'starting', states: slotStates };
  // The states' guards and actions name the slot setup's implementations; the chart only needs their shape.
  return slotSetup.createMachine({ id: 'supervisor', type: 'parallel', context: {} as SlotContext, states: Object.fromEntries(actors.map((a) => [a, region])) as Record<string, typeof region> }) as unknown as AnyStateMachine;
}
