// The actor host: runs one XState machine as a bus actor in this process, with its identity and manifest.
import { parseEnv, secaiEnv } from '../common/env.js';
import { createActor, type AnyActorRef, type AnyStateMachine, type InputFrom, type SnapshotFrom } from 'xstate';
import { loadCallers } from '../bus/callers-file.js';
import { BusClient } from '../bus/client.js';
import { outboxFor } from '../bus/outbox.js';
import { loadIdentity } from '../bus/identities.js';
import type { ActorManifest } from '../bus/manifest.js';
import { TrustedOperators } from '../bus/operator-keys.js';
import { serveManifest, type HandlersFor, type StandardCommandHandlers, type StandardHandlers } from '../bus/service.js';
import { check } from '../bus/schema.js';
import { effectiveManifest } from '../bus/standard-ops.js';
import { stateSubject } from '../bus/subjects.js';
import { createLogger, type Logger } from '../common/log.js';
import { homePaths, secaiConfigDir, secaiHome, type HomePaths } from '../common/paths.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { UnpublishedEvents } from '../common/published-or-logged.js';
import { describeMachine } from './describe-machine.js';
import { appliedSections } from './config-section.js';

export interface ActorContext<M extends AnyStateMachine = AnyStateMachine> {
  name: string;
  bus: BusClient;
  log: Logger;
  paths: HomePaths;
  configDir: string;
  actor: ReturnType<typeof createActor<M>>;
  /** Publishes one of the manifest's events, validated, and waits for the audit stream's ack. */
  emit(event: string, payload: unknown): Promise<void>;
  /**
   * Publishes like `emit`, but never rejects: a failure is logged and counted (`unpublishedEvents` in ping and in
   * the supervisor's status). Resolves whether it was published. For events whose failure must not fail the op.
   */
  emitOrLog(event: string, payload: unknown): Promise<boolean>;
  /**
   * For what must happen even when storage is full (lock, panic): validates, queues in the process's ordered outbox
   * and returns at once; the event reaches the audit chain when JetStream stores again, in order (bus/outbox.ts).
   */
  emitEssential(event: string, payload: unknown): void;
  /** Sends an event to the machine and waits until `done` holds for a snapshot (or times out). */
  sendAndWait(event: Parameters<ReturnType<typeof createActor<M>>['send']>[0], done: (s: SnapshotFrom<M>) => boolean, timeoutMs?: number): Promise<SnapshotFrom<M>>;
}

export interface ActorDefinition<M extends AnyStateMachine, Man extends ActorManifest = ActorManifest> {
  manifest: Man;
  /** The machine with its effects provided; may depend on the context (bus, paths). */
  machine: (ctx: Omit<ActorContext<M>, 'actor' | 'sendAndWait'>) => M | Promise<M>;
  /** A handler per served op, typed from the manifest's schemas (request in, reply out). */
  ops?: (ctx: ActorContext<M>) => HandlersFor<Man['serves']>;
  /** A handler per signed command, typed the same way. */
  commands?: (ctx: ActorContext<M>) => HandlersFor<Man['commands']>;
  /**
   * The machine's input (its initial context comes from it): what main.ts learned before start (a file exists,
   * a policy value, reports an earlier run left on disk). State the actor keeps belongs in the machine, never in
   * module variables of main.ts.
   */
  input?: (ctx: Omit<ActorContext<M>, 'actor' | 'sendAndWait'>) => InputFrom<M> | Promise<InputFrom<M>>;
  /** What of the machine context may leave the process on secai.state.<actor> (default: nothing). */
  publicContext?: (context: SnapshotFrom<M>['context']) => Record<string, unknown>;
  /**
   * Publishes the machines this one spawned (for example one per quarantine job) inside the public context, as
   * `children`: what of each child's context may leave (null leaves the child out). A child's own transitions
   * republish the parent's snapshot, so the Machines page sees a job move from stage to stage.
   */
  /** The machines this one spawns, by name, drawn next to it on the Machines page (describe's `children`). */
  childMachines?: Record<string, AnyStateMachine>;
  publishChildren?: (child: { id: string; value: unknown; status: string; context: unknown }) => Record<string, unknown> | null;
  start?: (ctx: ActorContext<M>) => void | Promise<void>;
  stop?: (ctx: ActorContext<M>) => void | Promise<void>;
}

interface PublishedSnapshot {
  actor: string;
  value: unknown;
  status: string;
  event: string;
  seq: number;
  at: number;
  context?: Record<string, unknown>;
}

/** Process entry for an actor: connects, starts the machine, serves, reports ready to the supervisor. */
export async function runActor<M extends AnyStateMachine, Man extends ActorManifest>(def: ActorDefinition<M, Man>, env?: NodeJS.ProcessEnv): Promise<void> {
  const name = def.manifest.name;
  const log = createLogger(name);
  // Every SECAI_* setting is parsed here, at start: a bad value stops the actor with a clear error.
  const settings = env ? parseEnv(env) : secaiEnv();
  const url = settings.busUrl;
  if (!url) throw new SecaiError(ErrorCode.NOT_RUNNING, `${name}: SECAI_BUS_URL is not set (actors are started by 'secai up')`);
  const paths = homePaths(secaiHome(env));
  const bus = await BusClient.connect({ url, identity: loadIdentity(paths.busKeys, name) });
  const started = Date.now();
  const publishes = effectiveManifest(def.manifest).publishes;
  // The count also goes to the supervisor over IPC: the bus may be exactly what is failing.
  const unpublished = new UnpublishedEvents(log, (count) => {
    if (!process.connected) return;
    process.send?.({ type: 'unpublished', actor: name, count }, undefined, undefined, (err: Error | null) => {
      if (err) log.warn({ err: err.message }, 'could not tell the supervisor the unpublished-event count');
    });
  });

  const emit = async (event: string, payload: unknown) => {
    const schema = publishes[event];
    if (!schema) throw new SecaiError(ErrorCode.INTERNAL, `${name} does not publish '${event}'`);
    await bus.publishEvent(name, event, check(schema, payload, `event ${event}`));
  };
  const base = {
    name, bus, log, paths, configDir: secaiConfigDir(env),
    emit,
    emitOrLog: (event: string, payload: unknown) => unpublished.settle(event, emit(event, payload)),
    emitEssential: (event: string, payload: unknown) => {
      const schema = publishes[event];
      if (!schema) throw new SecaiError(ErrorCode.INTERNAL, `${name} does not publish '${event}'`);
      void outboxFor(bus, log, unpublished).push(name, event, check(schema, payload, `event ${event}`));
    },
  };
  const machine = await def.machine(base);
  const input = def.input ? await def.input(base) : undefined;
  // An undefined input is no input: the machine's context then stands alone.
  const actor = (createActor as (m: M, o: { input: unknown }) => ReturnType<typeof createActor<M>>)(machine, { input });

  let seq = 0;
  let latest: PublishedSnapshot | undefined;
  let lastEvent = 'xstate.init';
  actor.system.inspect((ev) => {
    if (ev.type === '@xstate.event' && ev.actorRef === actor) lastEvent = ev.event.type;
  });
  // Every transition's snapshot is published, in order, once the current turn of the event loop is over: the work a
  // transition started (a reply, a request to a worker or to an MCP server) is not queued behind the bus write, and
  // the snapshots of one turn leave in one write. The snapshot op answers the newest at once.
  let outgoing: PublishedSnapshot[] = [];
  const flush = () => {
    const out = outgoing;
    outgoing = [];
    // An actor that is stopping may still change state while its connection drains: those snapshots have no reader.
    if (bus.nc.isClosed() || bus.nc.isDraining()) return;
    for (const snap of out) bus.publish(stateSubject(name), snap);
  };
  const publish = (snap: unknown) => {
    const s = snap as { value: unknown; status: string; context: unknown; children?: Record<string, AnyActorRef | undefined> };
    const context = def.publicContext ? def.publicContext(s.context as SnapshotFrom<M>['context']) : undefined;
    const children = def.publishChildren ? publicChildren(s.children ?? {}, def.publishChildren) : undefined;
    latest = {
      actor: name, value: s.value, status: s.status, event: lastEvent, seq: seq++, at: Date.now(),
      ...((context || children) && { context: { ...context, ...(children && { children }) } }),
    };
    if (outgoing.push(latest) === 1) setImmediate(flush);
  };
  // XState calls observers for every event, also when nothing changed (a 1 Hz tick that finds nothing due): the
  // same snapshot object is not published again, so an idle actor puts nothing on the bus.
  let lastSnap: unknown;
  actor.subscribe({
    next: (snap) => {
      if (snap === lastSnap) return;
      lastSnap = snap;
      publish(snap);
    },
    error: (err) => log.error({ err }, 'machine failed'),
  });
  if (def.publishChildren) {
    // A spawned child's transition does not change the parent's snapshot: republish the parent with its children.
    actor.system.inspect((ev) => {
      if (ev.type !== '@xstate.snapshot' || ev.actorRef === actor) return;
      const children = (actor.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> }).children ?? {};
      const ref = ev.actorRef as AnyActorRef;
      if (!Object.values(children).includes(ref)) return;
      lastEvent = `${ref.id}: ${ev.event.type}`.slice(0, 128);
      publish(actor.getSnapshot());
    });
  }

  const ctx: ActorContext<M> = {
    ...base,
    actor,
    sendAndWait: (event, done, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        let sub: { unsubscribe(): void } | undefined;
        const t = setTimeout(() => { sub?.unsubscribe(); reject(new SecaiError(ErrorCode.TIMEOUT, `${name}: no settled state after ${event.type}`)); }, timeoutMs);
        let sent = false;
        sub = actor.subscribe((snap) => {
          if (sent && done(snap as SnapshotFrom<M>)) { clearTimeout(t); sub?.unsubscribe(); resolve(snap as SnapshotFrom<M>); }
        });
        sent = true;
        actor.send(event);
        const now = actor.getSnapshot() as SnapshotFrom<M>;
        if (done(now)) { clearTimeout(t); sub.unsubscribe(); resolve(now); }
      }),
  };

  actor.start();
  const ping = () => {
    const sections = appliedSections();
    return {
      actor: name, pid: process.pid, uptimeMs: Date.now() - started, state: (actor.getSnapshot() as { value: unknown }).value,
      unpublishedEvents: unpublished.count, ...(Object.keys(sections).length && { sections }),
    };
  };
  let description: ReturnType<typeof describeWithChildren> | undefined;
  const standard: StandardHandlers = {
    ping,
    describe: async () => ({ actor: name, ...(await (description ??= describeWithChildren(machine, def.childMachines))) }),
    snapshot: () => {
      if (!latest) throw new SecaiError(ErrorCode.NOT_READY, `${name} has no snapshot yet`);
      return latest;
    },
  };
  const standardCommands: StandardCommandHandlers = { ping };
  const unserve = serveManifest<Man>({
    bus, manifest: def.manifest, log, callers: loadCallers(paths.busCallers), unpublished,
    operators: new TrustedOperators(paths.trustedOperators),
    ops: { ...standard, ...def.ops?.(ctx) } as HandlersFor<Man['serves']>,
    commands: { ...standardCommands, ...def.commands?.(ctx) } as HandlersFor<Man['commands']>,
  });
  await bus.nc.flush();
  await def.start?.(ctx);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    try {
      await def.stop?.(ctx);
      unserve();
      actor.stop();
      await bus.close();
    } finally {
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('disconnect', () => void stop(0)); // the supervisor is gone: do not linger as an orphan
  // Liveness: the supervisor's heartbeat is answered from this event loop, so a hung or stopped process misses it.
  process.on('message', (m: { type?: string; seq?: unknown }) => {
    if (m?.type === 'heartbeat' && typeof m.seq === 'number') process.send?.({ type: 'heartbeat', seq: m.seq });
  });
  process.send?.({ type: 'ready', actor: name, pid: process.pid });
  log.info({ pid: process.pid }, `${name} ready`);
}

/** The machine's description, and each spawned machine's under `children` (the visualizer draws a job with its own chart). */
async function describeWithChildren(machine: AnyStateMachine, children: Record<string, AnyStateMachine> | undefined) {
  const own = await describeMachine(machine);
  if (!children) return own;
  const described: Record<string, Awaited<ReturnType<typeof describeMachine>>> = {};
  for (const [key, m] of Object.entries(children)) described[key] = await describeMachine(m);
  return { ...own, children: described };
}

/** At most this many spawned children go into a published snapshot. */
export const MAX_PUBLISHED_CHILDREN = 32;

/** Each spawned child that the actor lets out: its id, state value, status and public context. */
export function publicChildren(
  children: Record<string, AnyActorRef | undefined>,
  pick: NonNullable<ActorDefinition<AnyStateMachine>['publishChildren']>,
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [id, ref] of Object.entries(children)) {
    // A flood of imports must not grow the snapshot past what the bus and the gateway accept: the oldest children are shown.
    if (out.length >= MAX_PUBLISHED_CHILDREN) break;
    const snap = ref?.getSnapshot() as { value?: unknown; status?: string; context?: unknown } | undefined;
    // Only machines (a value) are children worth drawing; invoked promises and callbacks are not.
    if (!snap || snap.value === undefined) continue;
    const context = pick({ id, value: snap.value, status: String(snap.status), context: snap.context });
    if (context) out.push({ id, value: snap.value, status: snap.status, context });
  }
  return out;
}

/** Use as the last line of an actor's main.ts: a failure to start is logged and exits non-zero. */
export function main<M extends AnyStateMachine, Man extends ActorManifest>(def: ActorDefinition<M, Man>): void {
  runActor(def).catch((err: unknown) => {
    createLogger(def.manifest.name).fatal({ err }, 'actor failed to start');
    process.exit(1);
  });
}

export type { AnyActorRef };
