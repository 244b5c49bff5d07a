// Incident process: wiring. Open incidents live in machines/incident (one machine each); this file derives detections, persists, serves.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fromPromise, type AnyActorRef } from 'xstate';
import { onEvent } from '../../bus/events.js';
import { STANDARD_EVENTS } from '../../bus/standard-ops.js';
import type { CallContext } from '../../bus/service.js';
import type { Detection } from '../../contracts/detection.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import {
  incidentMachine, managerMachine, stateOf, webOperator, type Announcement, type IncidentContext, type IncidentState,
} from '../../machines/incident/manager.machine.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { MANIFESTS, auditManifest, airlockManifest, authManifest, inferenceManifest, quarantineManifest, registryManifest, supervisorManifest, toolFirewallManifest } from '../../runtime/catalog.js';
import { detection as detectionSchema } from '../../contracts/detection.js';
import { containStep } from './contain.js';
import * as derive from './derive.js';
import { exportBundle } from './bundle.js';
import { incidentManifest } from './manifest.js';
import { isIncidentId, loadIncidents, readIncidentById, saveIncident, type StoredIncident } from './store.js';
import { loadOrCreateKey, type IncidentKey } from './signing-key.js';

type Ctx = ActorContext<typeof managerMachine>;
type Base = Omit<Ctx, 'actor' | 'sendAndWait'>;

const newId = () => `inc-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
const incidentsDir = (ctx: Pick<Base, 'paths'>) => join(ctx.paths.home, 'incidents');
const STATE_OF: Partial<Record<Announcement, IncidentState>> = { opened: 'open', contained: 'contained', escalated: 'escalated', acknowledged: 'acknowledged', resolved: 'resolved' };

export function summaryOf(state: IncidentState, c: IncidentContext) {
  return {
    id: c.id, class: c.class, key: c.key, severity: c.severity, state, summary: c.summary, count: c.count, firstSeen: c.firstSeen,
    lastSeen: c.lastSeen, steps: c.steps, escalation: c.escalation, target: c.target,
  };
}
export function recordOf(r: StoredIncident) {
  const c = r.context;
  return { incident: summaryOf(r.state, c), evidence: c.evidence, timeline: c.timeline as unknown as Record<string, unknown>[], flood: c.flood, repeatsSinceContained: c.repeatsSinceContained, escalateAfter: c.escalateAfter };
}

/**
 * Writes each changed incident once per turn of the event loop (a storm of one cause is one write per batch, not
 * one per detection); `flushed()` resolves once every change seen so far is on disk (ops answer after it).
 */
function persister(ctx: Base, key: IncidentKey) {
  const dirty = new Map<string, StoredIncident>();
  let scheduled: Promise<void> | null = null;
  const flush = () => {
    scheduled = null;
    for (const rec of dirty.values()) {
      try {
        saveIncident(incidentsDir(ctx), key, rec);
      } catch (err) {
        ctx.log.error({ err, id: rec.context.id }, 'incident not written');
      }
    }
    dirty.clear();
  };
  return {
    mark(rec: StoredIncident) {
      dirty.set(rec.context.id, rec);
      scheduled ??= new Promise<void>((resolve) => setImmediate(() => { flush(); resolve(); }));
    },
    flushed: () => scheduled ?? Promise.resolve(),
  };
}

type Persister = ReturnType<typeof persister>;

/** The machine with its effects: containment over the bus, announcements as events. */
function provide(ctx: Base) {
  const child = incidentMachine.provide({
    actors: { contain: fromPromise(({ input }) => containStep(ctx.bus, input.action, input.incident)) },
    actions: {
      announce: ({ context, self }, p: { kind: Announcement; reason?: string }) => {
        const state = STATE_OF[p.kind] ?? stateOf((self.getSnapshot() as { value: unknown }).value);
        const last = context.timeline.at(-1);
        const reason = p.kind === 'updated' ? `count ${context.count}: ${context.evidence.at(-1)?.summary ?? ''}` : (last?.reason ?? '');
        void ctx.emitOrLog(p.kind, {
          incident: summaryOf(state, context), reason: reason.slice(0, 1024),
          ...(last?.by && p.kind !== 'updated' && { by: last.by }), ...(last?.note && p.kind !== 'updated' && { note: last.note.slice(0, 1024) }),
        });
        ctx.log.info({ id: context.id, class: context.class, kind: p.kind, count: context.count }, `incident ${p.kind}`);
      },
    },
  });
  return managerMachine.provide({ actors: { incident: child } });
}

/** Every live incident machine, by id. */
const liveChildren = (ctx: Ctx): Record<string, AnyActorRef> =>
  Object.fromEntries(Object.entries((ctx.actor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children).filter(([, r]) => r && (r.getSnapshot() as { value?: unknown }).value !== undefined)) as Record<string, AnyActorRef>;

function detect(ctx: Ctx, d: Detection | null) {
  if (d) ctx.actor.send({ type: 'incident.detect', detection: d, id: newId() });
}

/** Every signal the actor derives detections from: each publisher's own schema is checked before a derive sees it. */
function subscribe(ctx: Ctx) {
  const now = () => Date.now();
  const on = onEvent;
  for (const m of MANIFESTS) {
    if (m.kind === 'client') continue;
    on(ctx.bus, m.name, 'command_rejected', STANDARD_EVENTS.command_rejected, ctx.log, (e) => detect(ctx, derive.fromCommandRejected(m.name, e, now())));
  }
  on(ctx.bus, 'auth', 'guess_burst', authManifest.publishes.guess_burst, ctx.log, (e) => detect(ctx, derive.fromGuessBurst(e)));
  on(ctx.bus, 'audit', 'chain_broken', auditManifest.publishes.chain_broken, ctx.log, (e) => detect(ctx, derive.fromChainBroken(e)));
  on(ctx.bus, 'registry', 'verify_failed', registryManifest.publishes.verify_failed, ctx.log, (e) => detect(ctx, derive.fromVerifyFailed(e, now())));
  on(ctx.bus, 'inference', 'model_refused', inferenceManifest.publishes.model_refused, ctx.log, (e) => detect(ctx, derive.fromModelRefused(e, now())));
  on(ctx.bus, 'airlock', 'egress', airlockManifest.publishes.egress, ctx.log, (e) => detect(ctx, derive.fromEgress(e, now())));
  on(ctx.bus, 'quarantine', 'verdict', quarantineManifest.publishes.verdict, ctx.log, (e) => detect(ctx, derive.fromVerdict(e, now())));
  on(ctx.bus, 'supervisor', 'permission_violation', supervisorManifest.publishes.permission_violation, ctx.log, (e) => detect(ctx, derive.fromPermissionViolation(e, now())));
  // The detector actors publish the detection contract itself.
  for (const detector of ['integrity', 'attestor', 'gpu-watch'] as const) on(ctx.bus, detector, 'detection', detectionSchema, ctx.log, (d) => detect(ctx, d));
  on(ctx.bus, 'tool-firewall', 'checked', toolFirewallManifest.publishes.checked, ctx.log, (e) => {
    if (e.decision === 'deny') ctx.actor.send({ type: 'incident.tool_denied', tool: e.tool, rule: e.rule, at: now(), id: newId() });
  });
}

/** An incident file that did not verify: reported as an event and as an integrity_violation incident of its own. */
function reportRejected(ctx: Ctx, rejected: { file: string; movedTo: string; reason: string }[]) {
  for (const r of rejected) {
    ctx.log.error(r, 'incident file does not verify: moved aside');
    void ctx.emitOrLog('store_rejected', r);
    detect(ctx, {
      class: 'integrity_violation', key: `incident-file:${r.file}`.slice(0, 256), severity: 'critical', at: Date.now(),
      summary: `an incident file does not verify: ${r.reason}`.slice(0, 1024), evidence: { ...r }, target: { path: r.file.slice(0, 4096) },
    });
  }
}

/** Incidents on disk (resolved ones included), newest first, after every pending write landed. */
async function list(ctx: Ctx, io: { key: IncidentKey; persist: Persister }, req: { state?: string; limit?: number }) {
  await io.persist.flushed();
  const { incidents, rejected } = loadIncidents(incidentsDir(ctx), io.key, Date.now());
  reportRejected(ctx, rejected);
  const wanted = incidents.filter((r) => !req.state || r.state === req.state || (req.state === 'unresolved' && r.state !== 'resolved'));
  wanted.sort((a, b) => b.context.lastSeen - a.context.lastSeen);
  return { incidents: wanted.slice(0, req.limit ?? 100).map((r) => summaryOf(r.state, r.context)), rejectedFiles: rejected.length };
}

async function get(ctx: Ctx, io: { key: IncidentKey; persist: Persister }, id: string) {
  await io.persist.flushed();
  return recordOf(readIncidentById(incidentsDir(ctx), io.key, id));
}

/** ack / resolve: only a live incident in a state that takes it; the signed command's key id is recorded. */
async function operatorAct(ctx: Ctx, io: { key: IncidentKey; persist: Persister }, kind: 'ack' | 'resolve', req: { id: string; note?: string }, call: CallContext) {
  const by = call.operator?.keyId;
  if (!by) throw new SecaiError(ErrorCode.UNAUTHORIZED, `${kind} needs a signed operator command`);
  return act(ctx, io, kind, req, by);
}

/** The same transition for a web session auth re-authenticated (served to auth alone: the ACL and the responder's caller check). */
async function actForSession(ctx: Ctx, io: { key: IncidentKey; persist: Persister }, req: { id: string; action: 'ack' | 'resolve'; session: string; note?: string }, call: CallContext) {
  if (call.caller !== 'auth') throw new SecaiError(ErrorCode.PERMISSION, 'only the auth actor may act for a web session');
  return act(ctx, io, req.action, req, webOperator(req.session));
}

async function act(ctx: Ctx, io: { key: IncidentKey; persist: Persister }, kind: 'ack' | 'resolve', req: { id: string; note?: string }, by: string) {
  if (!isIncidentId(req.id)) throw new SecaiError(ErrorCode.INCIDENT_NOT_FOUND, `no incident ${req.id}`);
  const ref = liveChildren(ctx)[req.id];
  const event = { type: `incident.${kind}` as const, id: req.id, by, note: (req.note ?? '').slice(0, 1024), at: Date.now() };
  const snap = ref?.getSnapshot() as { value: unknown; can(e: unknown): boolean } | undefined;
  if (!ref || !snap) {
    const stored = readIncidentById(incidentsDir(ctx), io.key, req.id);
    throw new SecaiError(ErrorCode.INVALID_STATE, `incident ${req.id} is ${stored.state}: nothing to ${kind}`);
  }
  if (!snap.can({ ...event, type: `incident.${kind}` })) {
    const why = kind === 'resolve' ? ' (resolve needs an acknowledgement first)' : ' (acknowledge once containment has run)';
    throw new SecaiError(ErrorCode.INVALID_STATE, `incident ${req.id} is ${stateOf(snap.value)}: cannot ${kind}${why}`);
  }
  ctx.actor.send(event);
  const after = ref.getSnapshot() as { value: unknown; context: IncidentContext };
  await io.persist.flushed();
  return summaryOf(stateOf(after.value), after.context);
}

main<typeof managerMachine, typeof incidentManifest>({
  manifest: incidentManifest,
  machine: (ctx) => provide(ctx),
  input: async (ctx) => {
    const key = loadOrCreateKey(ctx.paths.keys);
    const { incidents } = loadIncidents(incidentsDir(ctx), key, Date.now());
    return { policy: await readSection(ctx, 'incidents'), restored: incidents.filter((r) => r.state !== 'resolved') };
  },
  childMachines: { incident: incidentMachine },
  publicContext: (c) => ({ open: Object.keys(c.live).length, overflow: c.overflow, detections: c.detections }),
  publishChildren: ({ id, context }) => {
    const c = context as IncidentContext;
    return { id, class: c.class, severity: c.severity, count: c.count };
  },
  ops: (ctx) => {
    const io = ioOf(ctx);
    return {
      list: (req) => list(ctx, io, req),
      get: (req) => get(ctx, io, req.id),
      act_for_session: (req, call) => actForSession(ctx, io, req as { id: string; action: 'ack' | 'resolve'; session: string; note?: string }, call),
    };
  },
  commands: (ctx) => {
    const io = ioOf(ctx);
    return {
      list: (req) => list(ctx, io, req),
      get: (req) => get(ctx, io, req.id),
      ack: (req, call) => operatorAct(ctx, io, 'ack', req, call),
      resolve: (req, call) => operatorAct(ctx, io, 'resolve', req, call),
      export: async (req) => exportBundle(ctx.bus, io.key, await get(ctx, io, req.id)),
    };
  },
  start: async (ctx) => {
    const io = ioOf(ctx);
    // Every change of an incident machine is written (restored ones included: their state is already on disk).
    ctx.actor.system.inspect((ev) => {
      if (ev.type !== '@xstate.snapshot') return;
      const ref = ev.actorRef as AnyActorRef;
      const snap = ref.getSnapshot() as { value?: unknown; context?: IncidentContext; machine?: { id?: string } };
      if (snap.machine?.id !== 'incident' || !snap.context) return;
      io.persist.mark({ state: stateOf(snap.value), context: snap.context });
    });
    // Incidents restored before inspection began were read from disk: nothing to write for them.
    const { rejected } = loadIncidents(incidentsDir(ctx), io.key, Date.now());
    reportRejected(ctx, rejected);
    await configSection(ctx, 'incidents', (policy) => ctx.actor.send({ type: 'incident.policy', policy }));
    subscribe(ctx);
  },
});

/** The key and the write queue, made once per process and shared by ops, commands and start (no module state). */
function ioOf(ctx: Ctx): { key: IncidentKey; persist: Persister } {
  const holder = ctx as Ctx & { incidentIo?: { key: IncidentKey; persist: Persister } };
  if (!holder.incidentIo) {
    const key = loadOrCreateKey(ctx.paths.keys);
    holder.incidentIo = { key, persist: persister(ctx, key) };
  }
  return holder.incidentIo;
}
