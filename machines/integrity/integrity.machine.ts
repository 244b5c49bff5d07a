// The integrity monitor's life: starting → baselining (first run) → trusted ⇄ degraded → recovery_required, with the baseline, findings and pending changes in context.
import { assign, emit, enqueueActions, fromCallback, fromPromise, setup, spawnChild, type DoneActorEvent } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';
import { asFailure, failedAt, replyError, replyOk, type Reply, type Request } from '../request.js';
import {
  applied, DEFAULT_SETTINGS, expire, judge, levelOf,
  type Change, type Entries, type FileRecord, type Finding, type IntegritySettings, type Judged, type Pending, type TrustLevel,
} from './judge.js';

export * from './judge.js';

/** The signed baseline as the machine holds it; `generation` grows with every write (an older file is a rollback). */
export interface Baseline { entries: Entries; generation: number; createdAt: number; updatedAt: number }

/** What opening the baseline file found. */
export type Opened =
  | { kind: 'none' }
  | { kind: 'ok'; baseline: Baseline }
  | { kind: 'forged'; reason: string; at: number };

/** The baseline file as a scan found it, compared with the generation the machine wrote last. */
export type BaselineCheck = { ok: true } | { ok: false; reason: string };

export interface ScanInput {
  entries: Entries;
  /** 'all', or the paths (files or folder prefixes) to look at. */
  scope: 'all' | string[];
  full: boolean;
  smallFileBytes: number;
  generation: number;
  /** The policy.yaml the policy actor loaded on a signed reload (path and SHA-256): a change to exactly that is legitimate. */
  policyLoaded: { path: string; digest: string } | null;
  /** Whether the baseline had a trusted operator: the first one is trust on first use. */
  operators: number;
}

export interface ScanResult {
  changes: Change[];
  /** Files whose content is unchanged but whose stat fields moved (a chmod, a touch): the record is refreshed. */
  restat: Record<string, FileRecord>;
  /** The paths looked at ('all' for a whole scan). */
  checked: string[] | 'all';
  baseline: BaselineCheck;
  /** The baseline generation this scan compared against (its input's): a result for an older one is stale. */
  generation: number;
  files: number;
  bytesHashed: number;
  ms: number;
  full: boolean;
  at: number;
}

export interface DiffResult {
  changes: { path: string; change: 'changed' | 'added' | 'removed'; old: string | null; new: string | null }[];
  digest: string;
  entries: Entries;
  /** When the files were hashed (the effect's clock: the machine reads none). */
  at: number;
}

/** A first measurement and when it was taken. */
export interface Measured { entries: Entries; at: number }

export interface CanaryTouch { name: string; path: string; event: string; at: number; replanted: boolean }

export interface IntegrityContext {
  settings: IntegritySettings;
  baseline: Baseline | null;
  findings: Record<string, Finding>;
  pending: Record<string, Pending>;
  /** Paths an inotify event named since the last scan began: the next scan looks at them first. */
  dirty: string[];
  scanning: boolean;
  nextScanAt: number;
  nextFullAt: number;
  policyLoaded: { path: string; digest: string } | null;
  lastScan: { at: number; files: number; bytesHashed: number; ms: number; full: boolean; changes: number } | null;
  /** Detections waiting to be published (the `publish` action empties it). */
  outbox: Finding[];
  /** When each canary was last reported: touches closer than CANARY_QUIET_MS are counted, not reported again. */
  canaryReported: Record<string, number>;
  lastError: string | null;
  /** Why the state last changed, for the state event. */
  reason: string;
  /** Canary path → whether its watcher is established. */
  canaries: Record<string, boolean>;
  /** Rebaselines under way: request id → the diff digest the operator confirmed. */
  rebaselines: Record<string, string>;
}

export type IntegrityEvent =
  | { type: 'integrity.tick'; now: number }
  | { type: 'integrity.touched'; paths: string[] }
  | { type: 'integrity.policy_reloaded'; path: string; digest: string }
  | { type: 'integrity.canary'; touch: CanaryTouch }
  | { type: 'integrity.canary_watching'; path: string }
  | { type: 'integrity.settings'; settings: IntegritySettings }
  | ({ type: 'integrity.status' } & Request)
  | ({ type: 'integrity.diff' } & Request)
  | ({ type: 'integrity.rebaseline'; confirm: string } & Request)
  /** Raised by the machine itself when an operator's rebaseline was written. */
  | { type: 'integrity.rebaselined' };

/** Canary touches of one canary within this long after a report are counted into it, not reported again. */
export const CANARY_QUIET_MS = 250;
/** At most this many paths wait for the next scan; more mean "scan everything". */
const MAX_DIRTY = 256;

const trustOf = (c: IntegrityContext): TrustLevel => levelOf(c.findings, c.settings.escalateAfter);

/** The reply of `status`: what an operator and the Security page read. */
export function statusOf(state: string, c: IntegrityContext) {
  return {
    state,
    generation: c.baseline?.generation ?? 0,
    files: c.baseline ? Object.keys(c.baseline.entries).length : 0,
    findings: Object.values(c.findings).map((f) => ({
      key: f.key, class: f.class, level: f.level, kind: f.kind, summary: f.summary, path: f.path, at: f.at, count: f.count,
      ...(f.model !== undefined && { model: f.model }), ...(f.old !== undefined && { old: f.old }), ...(f.new !== undefined && { new: f.new }),
    })),
    pending: Object.values(c.pending).map((p) => ({ path: p.path, since: p.since, deadline: p.deadline })),
    lastScan: c.lastScan,
    lastError: c.lastError,
    canaries: Object.entries(c.canaries).map(([path, watching]) => ({ path, watching })),
  };
}

const scanInput = (c: IntegrityContext, scope: 'all' | string[], full: boolean): ScanInput => ({
  entries: c.baseline?.entries ?? {}, scope, full, smallFileBytes: c.settings.smallFileBytes, generation: c.baseline?.generation ?? 0,
  policyLoaded: c.policyLoaded, operators: Object.values(c.baseline?.entries ?? {}).filter((e) => e.kind === 'trust').length,
});

const withJudged = (c: IntegrityContext, j: Judged, extra: Record<string, FileRecord | null> = {}, at: number): Partial<IntegrityContext> => {
  const accept = { ...extra, ...j.accept };
  const changedBaseline = Object.keys(accept).length > 0 && c.baseline;
  return {
    findings: j.findings, pending: j.pending, outbox: [...c.outbox, ...j.fresh],
    ...(changedBaseline && { baseline: { ...c.baseline!, entries: applied(c.baseline!.entries, accept), generation: c.baseline!.generation + 1, updatedAt: at } }),
    ...(j.fresh.length && { reason: j.fresh[0]!.summary }),
  };
};

export const integrityMachine = setup({
  types: {} as {
    context: IntegrityContext;
    input: { settings?: IntegritySettings; now: number };
    events: IntegrityEvent;
    emitted: Reply;
  },
  actors: {
    /** Reads and verifies the signed baseline file. */
    openBaseline: fromPromise<Opened>(notProvided('openBaseline')),
    /** Hashes every watched file: the first baseline. */
    measure: fromPromise<Measured>(notProvided('measure')),
    /** Checks watched files against the baseline (all, or some paths) and explains what legitimately changed. */
    scan: fromPromise<ScanResult, ScanInput>(notProvided('scan')),
    /** Measures everything now and lists the differences from the baseline, with the digest that rebaseline must quote. */
    diff: fromPromise<DiffResult, { entries: Entries }>(notProvided('diff')),
    /** Sends integrity.tick every second (scans are due by the clock in context). */
    ticker: fromCallback<IntegrityEvent>(notProvided('ticker')),
    /** inotify on the watched files: sends integrity.touched with the paths that changed. */
    changeWatch: fromCallback<IntegrityEvent>(notProvided('changeWatch')),
    /** Plants and watches the canaries: sends integrity.canary and integrity.canary_watching. */
    canaryWatch: fromCallback<IntegrityEvent, { enabled: boolean }>(notProvided('canaryWatch')),
  },
  actions: {
    /** Signs and writes the baseline in context (synchronously: the next scan reads what this wrote). */
    saveBaseline: notProvided('saveBaseline'),
    /** Publishes every finding in the outbox as a detection (contracts/detection.ts). */
    publish: notProvided('publish'),
    /** Publishes the state change with its reason. */
    announce: notProvided('announce'),
    /** Publishes a baseline written or changed, and why. */
    reportBaselined: notProvided('reportBaselined'),
  },
  guards: {
    isDegraded: ({ context }) => trustOf(context) === 'degraded',
    isRecovery: ({ context }) => trustOf(context) === 'recovery_required',
    isTrusted: ({ context }) => trustOf(context) === 'trusted',
  },
}).createMachine({
  id: 'integrity',
  initial: 'starting',
  context: ({ input }) => ({
    settings: input.settings ?? DEFAULT_SETTINGS, baseline: null, findings: {}, pending: {}, dirty: [], scanning: false,
    nextScanAt: input.now, nextFullAt: input.now + (input.settings ?? DEFAULT_SETTINGS).fullHashIntervalMs,
    policyLoaded: null, lastScan: null, outbox: [], canaryReported: {}, lastError: null, reason: 'starting', rebaselines: {}, canaries: {},
  }),
  on: {
    'integrity.settings': { actions: assign({ settings: ({ event }) => event.settings }) },
    'integrity.status': { actions: emit(({ context, event, self }) => replyOk(event.requestId, statusOf(leafOf(self.getSnapshot().value), context))) },
    // Until a baseline exists there is nothing to compare with: diff and rebaseline wait for monitoring.
    'integrity.diff': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.NOT_READY, message: 'the integrity monitor has no baseline yet' })) },
    'integrity.rebaseline': { actions: emit(({ event }) => replyError(event.requestId, { code: ErrorCode.NOT_READY, message: 'the integrity monitor has no baseline yet' })) },
  },
  states: {
    starting: {
      invoke: {
        id: 'openBaseline',
        src: 'openBaseline',
        onDone: [
          { guard: ({ event }) => event.output.kind === 'none', target: 'baselining' },
          {
            guard: ({ event }) => event.output.kind === 'ok',
            target: 'monitoring',
            actions: assign({ baseline: ({ event }) => (event.output as Extract<Opened, { kind: 'ok' }>).baseline, reason: 'baseline verified' }),
          },
          {
            // A baseline whose signature fails is itself a finding: whoever changed a file may have rewritten it too.
            target: 'monitoring',
            actions: [
              assign(({ context, event }) => baselineForged(context, (event.output as Extract<Opened, { kind: 'forged' }>).reason, (event.output as Extract<Opened, { kind: 'forged' }>).at)),
              'publish', assign({ outbox: [] }),
            ],
          },
        ],
        onError: {
          target: 'monitoring',
          actions: [assign(({ context, event }) => baselineForged(context, `the baseline cannot be read: ${asFailure(event.error).message}`, failedAt(event.error))), 'publish', assign({ outbox: [] })],
        },
      },
    },
    baselining: {
      invoke: {
        id: 'measure',
        src: 'measure',
        onDone: {
          target: 'monitoring',
          actions: [
            assign({ baseline: ({ event }) => ({ entries: event.output.entries, generation: 1, createdAt: event.output.at, updatedAt: event.output.at }), reason: 'first baseline' }),
            'saveBaseline', { type: 'reportBaselined', params: { reason: 'first run' } },
          ],
        },
        onError: { target: 'baselining', reenter: true, actions: assign({ lastError: ({ event }) => asFailure(event.error).message }) },
      },
    },
    monitoring: {
      initial: 'trusted',
      invoke: [
        { id: 'ticker', src: 'ticker' },
        { id: 'changeWatch', src: 'changeWatch' },
        { id: 'canaryWatch', src: 'canaryWatch', input: ({ context }) => ({ enabled: context.settings.canaries }) },
      ],
      on: {
        'integrity.canary_watching': { actions: assign({ canaries: ({ context, event }) => ({ ...context.canaries, [event.path]: true }) }) },
        'integrity.tick': [
          {
            guard: ({ context, event }) => !context.scanning && (event.now >= context.nextScanAt || context.dirty.length > 0),
            actions: enqueueActions(({ context, event, enqueue }) => {
              const due = event.now >= context.nextScanAt;
              const full = event.now >= context.nextFullAt;
              const scope = due || context.dirty.length >= MAX_DIRTY ? 'all' as const : context.dirty;
              enqueue(spawnChild('scan', { id: 'scan', input: scanInput(context, scope, full) }));
              enqueue.assign({
                scanning: true, dirty: [],
                ...(due && { nextScanAt: event.now + context.settings.scanIntervalMs }),
                ...(full && { nextFullAt: event.now + context.settings.fullHashIntervalMs }),
              });
            }),
          },
          {
            actions: enqueueActions(({ context, event, enqueue }) => {
              const j = expire(context.findings, context.pending, context.settings, event.now);
              if (!j.fresh.length) return;
              enqueue.assign(withJudged(context, j, {}, event.now));
              enqueue('publish');
              enqueue.assign({ outbox: [] });
            }),
          },
        ],
        'integrity.touched': {
          actions: assign({ dirty: ({ context, event }) => [...new Set([...context.dirty, ...event.paths])].slice(0, MAX_DIRTY) }),
        },
        'integrity.policy_reloaded': {
          actions: assign({
            policyLoaded: ({ event }) => ({ path: event.path, digest: event.digest }),
            dirty: ({ context, event }) => [...new Set([...context.dirty, event.path])],
          }),
        },
        'xstate.done.actor.scan': {
          actions: enqueueActions(({ context: ctx, event, enqueue }) => {
            const context = ctx as IntegrityContext;
            const r = (event as DoneActorEvent<ScanResult>).output;
            const done = { scanning: false, lastScan: { at: r.at, files: r.files, bytesHashed: r.bytesHashed, ms: r.ms, full: r.full, changes: r.changes.length } };
            // An operator rebaselined while this scan ran: it compared files (and the baseline file) with entries that are
            // no longer the baseline, so its differences mean nothing. Dropped, and the scope scanned again at once.
            if (r.generation !== (context.baseline?.generation ?? 0)) {
              enqueue.assign({
                scanning: false, ...(r.full && { nextFullAt: 0 }),
                ...(r.checked === 'all' ? { nextScanAt: 0 } : { dirty: [...new Set([...context.dirty, ...r.checked])].slice(0, MAX_DIRTY) }),
              });
              return;
            }
            // A baseline rewritten behind the monitor's back: the comparison is worthless, report it and keep ours.
            if (!r.baseline.ok) {
              enqueue.assign({ ...done, ...baselineForged(context, r.baseline.reason, r.at) });
              enqueue('publish');
              enqueue.assign({ outbox: [] });
              return;
            }
            const j = judge(r.changes, r.checked, context.findings, context.pending, context.settings, r.at);
            const next = withJudged(context, j, r.restat, r.at);
            enqueue.assign({ ...done, ...next });
            if (next.baseline) {
              enqueue('saveBaseline');
              const why = [...new Set(r.changes.map((c) => c.explained).filter((x): x is string => !!x))];
              if (why.length) enqueue({ type: 'reportBaselined', params: { reason: why.join('; ').slice(0, 512) } });
            }
            if (j.fresh.length) {
              enqueue('publish');
              enqueue.assign({ outbox: [] });
            }
          }),
        },
        'xstate.error.actor.scan': { actions: assign({ scanning: false, lastError: ({ event }) => asFailure(event.error).message }) },
        'integrity.canary': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const t = event.touch;
            const key = `canary:${t.path}`;
            const open = context.findings[key];
            const quiet = (context.canaryReported[key] ?? -Infinity) + CANARY_QUIET_MS > t.at && !t.replanted;
            const f: Finding = {
              key, class: 'unauthorized_access', level: context.settings.levels.canary, kind: 'canary',
              summary: `canary ${t.name} ${t.replanted ? 'removed (planted again)' : `touched (${t.event})`}: ${t.path}`.slice(0, 1024),
              path: t.path, at: t.at, count: (open?.count ?? 0) + 1,
            };
            enqueue.assign({ findings: { ...context.findings, [key]: f }, reason: f.summary });
            if (quiet) return;
            enqueue.assign({ outbox: [...context.outbox, f], canaryReported: { ...context.canaryReported, [key]: t.at } });
            enqueue('publish');
            enqueue.assign({ outbox: [] });
          }),
        },
        'integrity.diff': { actions: spawnChild('diff', { id: ({ event }) => event.requestId, input: ({ context }) => ({ entries: context.baseline?.entries ?? {} }) }) },
        'integrity.rebaseline': {
          actions: [
            assign({ rebaselines: ({ context, event }) => ({ ...context.rebaselines, [event.requestId]: event.confirm }) }),
            spawnChild('diff', { id: ({ event }) => event.requestId, input: ({ context }) => ({ entries: context.baseline?.entries ?? {} }) }),
          ],
        },
        // A diff child's answer, by its id (the requestId): a plain diff, or the rebaseline it was asked to confirm.
        'xstate.done.actor.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const id = actorIdOf(event);
            const r = (event as unknown as DoneActorEvent<DiffResult>).output;
            const asked = context.rebaselines[id];
            if (asked === undefined) { enqueue(emit(replyOk(id, { changes: r.changes, digest: r.digest }))); return; }
            enqueue.assign({ rebaselines: dropKey(context.rebaselines, id) });
            if (asked !== r.digest) {
              enqueue(emit(replyError(id, { code: ErrorCode.DIGEST_MISMATCH, message: `the files changed since that diff was shown (now ${r.digest}): run securectl integrity diff again and confirm what it shows` })));
              return;
            }
            const now = r.at;
            enqueue.assign({
              baseline: { entries: r.entries, generation: (context.baseline?.generation ?? 0) + 1, createdAt: context.baseline?.createdAt ?? now, updatedAt: now },
              findings: {}, pending: {}, canaryReported: {}, reason: `rebaselined by an operator (${r.changes.length} changes accepted)`,
            });
            enqueue('saveBaseline');
            enqueue({ type: 'reportBaselined', params: { reason: `operator rebaseline: ${r.changes.length} changes accepted` } });
            enqueue(emit(replyOk(id, { generation: (context.baseline?.generation ?? 0) + 1, accepted: r.changes.length, digest: r.digest })));
            enqueue.raise({ type: 'integrity.rebaselined' });
          }),
        },
        'xstate.error.actor.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const id = actorIdOf(event);
            enqueue.assign({ rebaselines: dropKey(context.rebaselines, id) });
            enqueue(emit(replyError(id, asFailure((event as { error?: unknown }).error))));
          }),
        },
      },
      states: {
        trusted: {
          entry: { type: 'announce', params: { state: 'trusted' } },
          always: [{ guard: 'isRecovery', target: 'recovery_required' }, { guard: 'isDegraded', target: 'degraded' }],
        },
        degraded: {
          entry: { type: 'announce', params: { state: 'degraded' } },
          always: [{ guard: 'isRecovery', target: 'recovery_required' }, { guard: 'isTrusted', target: 'trusted' }],
          on: { 'integrity.rebaselined': 'trusted' },
        },
        // Sticky: only a signed operator rebaseline leaves it (a file restored after use was still changed).
        recovery_required: {
          entry: { type: 'announce', params: { state: 'recovery_required' } },
          on: { 'integrity.rebaselined': 'trusted' },
        },
      },
    },
  },
});

/** The finding and outbox of a baseline that failed its check. */
function baselineForged(c: IntegrityContext, reason: string, at: number): Partial<IntegrityContext> {
  const f: Finding = {
    key: 'baseline', class: 'integrity_violation', level: 'recovery_required', kind: 'baseline',
    summary: `integrity baseline rejected: ${reason}`.slice(0, 1024), path: 'integrity/baseline.json', at, count: (c.findings['baseline']?.count ?? 0) + 1,
  };
  const again = c.findings['baseline'] !== undefined;
  return { findings: { ...c.findings, baseline: f }, outbox: again ? c.outbox : [...c.outbox, f], reason: f.summary };
}

const dropKey = (r: Record<string, string>, k: string) => Object.fromEntries(Object.entries(r).filter(([x]) => x !== k));

/** The child id out of `xstate.done.actor.<id>` / `xstate.error.actor.<id>`. */
function actorIdOf(event: unknown): string {
  return String((event as { type: string }).type).replace(/^xstate\.(done|error)\.actor\./, '');
}

/** The innermost state name: `{ monitoring: 'degraded' }` → `degraded`. */
export function leafOf(value: unknown): string {
  let v = value;
  while (v && typeof v === 'object') v = Object.values(v as Record<string, unknown>)[0];
  return String(v);
}

