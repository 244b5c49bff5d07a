// The actor host: runs one XState machine as a bus actor in this process, with its identity and manifest.
import { createActor, type AnyActorRef, type AnyStateMachine, type SnapshotFrom } from 'xstate';
import { loadCallers } from '../bus/callers-file.js';
import { BusClient } from '../bus/client.js';
import { loadIdentity } from '../bus/identities.js';
import type { ActorManifest } from '../bus/manifest.js';
import { TrustedOperators } from '../bus/operator-keys.js';
import { serveManifest, type Handlers } from '../bus/service.js';
import { check } from '../bus/schema.js';
import { effectiveManifest } from '../bus/standard-ops.js';
import { stateSubject } from '../bus/subjects.js';
import { createLogger, type Logger } from '../common/log.js';
import { homePaths, secaiConfigDir, secaiHome, type HomePaths } from '../common/paths.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { describeMachine } from './describe-machine.js';

export interface ActorContext<M extends AnyStateMachine = AnyStateMachine> {
  name: string;
  bus: BusClient;
  log: Logger;
  paths: HomePaths;
  configDir: string;
  actor: ReturnType<typeof createActor<M>>;
  /** Publishes one of the manifest's events, validated, and waits for the audit stream's ack. */
  emit(event: string, payload: unknown): Promise<void>;
  /** Sends an event to the machine and waits until `done` holds for a snapshot (or times out). */
  sendAndWait(event: Parameters<ReturnType<typeof createActor<M>>['send']>[0], done: (s: SnapshotFrom<M>) => boolean, timeoutMs?: number): Promise<SnapshotFrom<M>>;
}

export interface ActorDefinition<M extends AnyStateMachine> {
  manifest: ActorManifest;
  /** The machine with its effects provided; may depend on the context (bus, paths). */
  machine: (ctx: Omit<ActorContext<M>, 'actor' | 'sendAndWait'>) => M | Promise<M>;
  ops?: (ctx: ActorContext<M>) => Handlers;
  commands?: (ctx: ActorContext<M>) => Handlers;
  /** What of the machine context may leave the process on secai.state.<actor> (default: nothing). */
  publicContext?: (context: SnapshotFrom<M>['context']) => Record<string, unknown>;
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
export async function runActor<M extends AnyStateMachine>(def: ActorDefinition<M>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const name = def.manifest.name;
  const log = createLogger(name);
  const url = env.SECAI_BUS_URL;
  if (!url) throw new SecaiError(ErrorCode.NOT_RUNNING, `${name}: SECAI_BUS_URL is not set (actors are started by 'secai up')`);
  const paths = homePaths(secaiHome(env));
  const bus = await BusClient.connect({ url, identity: loadIdentity(paths.busKeys, name) });
  const started = Date.now();
  const publishes = effectiveManifest(def.manifest).publishes;

  const base = {
    name, bus, log, paths, configDir: secaiConfigDir(env),
    emit: async (event: string, payload: unknown) => {
      const schema = publishes[event];
      if (!schema) throw new SecaiError(ErrorCode.INTERNAL, `${name} does not publish '${event}'`);
      await bus.publishEvent(name, event, check(schema, payload, `event ${event}`));
    },
  };
  const machine = await def.machine(base);
  const actor = createActor(machine);

  let seq = 0;
  let latest: PublishedSnapshot | undefined;
  let lastEvent = 'xstate.init';
  actor.system.inspect((ev) => {
    if (ev.type === '@xstate.event' && ev.actorRef === actor) lastEvent = ev.event.type;
  });
  actor.subscribe({
    next: (snap) => {
      const s = snap as { value: unknown; status: string; context: unknown };
      latest = {
        actor: name, value: s.value, status: s.status, event: lastEvent, seq: seq++, at: Date.now(),
        ...(def.publicContext && { context: def.publicContext(s.context as SnapshotFrom<M>['context']) }),
      };
      bus.publish(stateSubject(name), latest);
    },
    error: (err) => log.error({ err }, 'machine failed'),
  });

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
  const ping = () => ({ actor: name, pid: process.pid, uptimeMs: Date.now() - started, state: (actor.getSnapshot() as { value: unknown }).value });
  let description: ReturnType<typeof describeMachine> | undefined;
  const unserve = serveManifest({
    bus, manifest: def.manifest, log, callers: loadCallers(paths.busCallers),
    operators: new TrustedOperators(paths.trustedOperators),
    ops: {
      ping,
      describe: async () => ({ actor: name, ...(await (description ??= describeMachine(machine))) }),
      snapshot: () => {
        if (!latest) throw new SecaiError(ErrorCode.NOT_READY, `${name} has no snapshot yet`);
        return latest;
      },
      ...def.ops?.(ctx),
    },
    commands: { ping, ...def.commands?.(ctx) },
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
  process.send?.({ type: 'ready', actor: name, pid: process.pid });
  log.info({ pid: process.pid }, `${name} ready`);
}

/** Use as the last line of an actor's main.ts: a failure to start is logged and exits non-zero. */
export function main<M extends AnyStateMachine>(def: ActorDefinition<M>): void {
  runActor(def).catch((err: unknown) => {
    createLogger(def.manifest.name).fatal({ err }, 'actor failed to start');
    process.exit(1);
  });
}

export type { AnyActorRef };
