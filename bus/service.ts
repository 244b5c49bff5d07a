// Serves a manifest's ops and commands: decode, validate, verify signatures, dispatch, reply — never crash.
import { EventOutbox, outboxFor } from './outbox.js';
import type { Msg } from '@nats-io/nats-core';
import type { BusClient, Reply } from './client.js';
import { decode, encode, DEFAULT_MAX_PAYLOAD } from './codec.js';
import { NonceCache, verifyCommand, type TrustedOperator } from './envelope.js';
import type { ActorManifest, OpSpec } from './manifest.js';
import { check, type Static } from './schema.js';
import { effectiveManifest, type STANDARD_COMMANDS, type STANDARD_SERVES } from './standard-ops.js';
import { commandSubject, inboxIdentity, serveSubject } from './subjects.js';
import { ErrorCode, SecaiError, toErrorData } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { UnpublishedEvents } from '../common/published-or-logged.js';

export interface CallContext {
  subject: string;
  /**
   * The identity that will read the reply: the one whose inbox the reply subject is in, checked to be
   * an identity whose manifest may ask this op. Any such identity could have named that inbox, so it
   * proves who READS the answer, not who asked (writes on behalf of a caller need a second step).
   */
  caller: string;
  /** Set for signed commands: who signed it. */
  operator?: TrustedOperator;
  /**
   * Set for signed commands: the envelope as it arrived (verified). An actor that must show an operator's signature
   * to another (the agent forwards an approval to policy.mint) passes this on; it cannot make one.
   */
  envelope?: unknown;
  /** Streaming ops only: sends one chunk to the requester before the final reply. */
  chunk?: (data: unknown) => void;
  /** The requester's reply subject, always an inbox of `caller`. For streams: one per request. */
  replyTo: string;
}

/** One op's handler: receives the request its schema admitted, returns (or resolves to) the reply. */
export type Handler<Req = never, Rep = unknown> = (request: Req, call: CallContext) => Rep | Promise<Rep>;
/** Handlers whose requests and replies are not known statically (tests, benchmarks). */
export type Handlers = Record<string, Handler>;
/**
 * The handlers of a manifest's op table (`serves` or `commands`), typed from its schemas: a handler
 * receives `Static<request>` and must return `Static<reply>`, so request, reply and code cannot drift.
 */
export type HandlersFor<Ops extends Record<string, OpSpec>> = string extends keyof Ops
  ? Handlers // a manifest built at run time (tests): its ops are not known statically
  : { [K in keyof Ops]: Handler<Static<Ops[K]['request']>, Static<Ops[K]['reply']>> };
/** The standard ops every actor serves (ping, describe, snapshot): runtime/host.ts types its own. */
export type StandardHandlers = HandlersFor<typeof STANDARD_SERVES>;
export type StandardCommandHandlers = HandlersFor<typeof STANDARD_COMMANDS>;

export interface ServeOptions<M extends ActorManifest = ActorManifest> {
  bus: BusClient;
  manifest: M;
  /** Handlers for served ops, by op name. */
  ops: HandlersFor<M['serves']> & Partial<Handlers>;
  /** Handlers for signed commands, by op name. */
  commands: HandlersFor<M['commands']> & Partial<Handlers>;
  operators: { lookup(keyId: string): TrustedOperator | undefined };
  log: Logger;
  /** Replay window for command envelopes (default 60 s). */
  windowMs?: number;
  /** Whether to publish command_rejected/accepted events (actors yes; the supervisor has its own). */
  auditCommands?: boolean;
  /** Where a command_rejected/accepted event that cannot be published is counted (the actor's own counter; default: a new one). */
  unpublished?: UnpublishedEvents;
  now?: () => number;
  /**
   * For every served and command subject, the identities that may ask it: `bus/callers.json`, which
   * prepareBus compiles with the server's ACL (`allowedCallers(manifests)` in tests). A request whose reply subject is not one of their inboxes is dropped unanswered: a
   * chosen reply subject must never make this actor publish somewhere else (a forged event).
   */
  callers: ReadonlyMap<string, ReadonlySet<string>>;
}

type AnyHandler = (request: unknown, call: CallContext) => unknown;

/** Subscribes every op and command of the manifest. Returns a function that unsubscribes them. */
export function serveManifest<M extends ActorManifest>(o: ServeOptions<M>): () => void {
  const m = effectiveManifest(o.manifest);
  // Past this point requests are checked against the schemas the handlers were typed from.
  const ops = o.ops as unknown as Record<string, AnyHandler | undefined>;
  const commands = o.commands as unknown as Record<string, AnyHandler | undefined>;
  const startedAt = (o.now ?? Date.now)();
  const windowMs = o.windowMs ?? 60_000;
  const nonces = new NonceCache(windowMs);
  const subs: { unsubscribe(): void }[] = [];
  const refused = refusalLog(o.log);
  const unpublished = o.unpublished ?? new UnpublishedEvents(o.log);
  /** The caller whose inbox `msg.reply` is, or undefined (and the request is dropped, logged) if it may not ask. */
  const callerOf = (msg: Msg, subject: string): string | undefined => {
    const who = inboxIdentity(msg.reply);
    if (who && o.callers.get(subject)?.has(who)) return who;
    refused(subject, msg.reply);
    return undefined;
  };

  for (const [op, spec] of Object.entries(m.serves)) {
    const handler = ops[op];
    if (!handler) throw new SecaiError(ErrorCode.INTERNAL, `${m.name}: no handler for served op '${op}'`);
    const subject = serveSubject(m.name, op);
    subs.push(o.bus.subscribe(subject, (msg) => {
      const caller = callerOf(msg, subject);
      if (!caller) return undefined;
      const replyTo = msg.reply!;
      const done = respond(o, msg, spec, (payload) => {
        const req = check(spec.request, payload, `${op} request`);
        if (!spec.stream) return handler(req, { subject, caller, replyTo });
        return handler(req, { subject, caller, replyTo, chunk: (data) => msg.respond(encode({ ok: true, data, more: true })) });
      });
      // Streams and concurrent ops run side by side (the actor bounds and orders them); others one at a time.
      return spec.stream || spec.concurrent ? undefined : done;
    }));
  }

  for (const [op, spec] of Object.entries(m.commands)) {
    const handler = commands[op];
    if (!handler) throw new SecaiError(ErrorCode.INTERNAL, `${m.name}: no handler for command '${op}'`);
    const subject = commandSubject(m.name, op);
    subs.push(o.bus.subscribe(subject, (msg) => {
      const caller = callerOf(msg, subject);
      if (!caller) return undefined;
      return respond(o, msg, spec, async (payload) => {
        const env = payload as { keyId?: unknown; nonce?: unknown };
        const keyId = typeof env?.keyId === 'string' ? env.keyId.slice(0, 128) : '';
        const nonce = typeof env?.nonce === 'string' ? env.nonce.slice(0, 128) : '';
        let verified;
        try {
          verified = await verifyCommand(payload, {
            subject, op, roles: spec.roles, lookup: (id) => o.operators.lookup(id), nonces,
            now: (o.now ?? Date.now)(), windowMs, notBefore: startedAt,
          });
        } catch (err) {
          const e = toErrorData(err);
          o.log.warn({ subject, code: e.code, keyId }, `command rejected: ${e.message}`);
          if (o.auditCommands !== false) {
            await unpublished.settle('command_rejected', o.bus.publishEvent(m.name, 'command_rejected', { subject, code: e.code, reason: e.message.slice(0, 512), keyId, nonce, caller }));
          }
          throw err;
        }
        const args = check(spec.request, verified.args, `${op} command`);
        if (o.auditCommands !== false) {
          // Evidence first, normally within milliseconds; when JetStream cannot store (a full disk) the record waits in
          // the ordered outbox and the command goes on after ACCEPT_WAIT_MS, so lock and panic never wait on the trail.
          await EventOutbox.within(outboxFor(o.bus, o.log, unpublished).push(m.name, 'command_accepted', { subject, keyId, nonce }), ACCEPT_WAIT_MS);
        }
        return handler(args, { subject, caller, replyTo: msg.reply!, operator: verified.operator, envelope: payload });
      });
    }));
  }

  return () => subs.forEach((s) => s.unsubscribe());
}

/** How long a command waits for its `command_accepted` record to be acknowledged before it runs anyway. */
export const ACCEPT_WAIT_MS = 1000;

/**
 * Decodes, runs and replies. A handler that returns a plain value is answered synchronously, inside the
 * subscription's callback (no promise hops on the hot path); a promise is answered when it settles.
 */
function respond(o: Pick<ServeOptions, 'log'>, msg: Msg, spec: OpSpec, run: (payload: unknown) => unknown): void | Promise<void> {
  let result: unknown;
  try {
    result = run(decode(msg.data, spec.maxBytes ?? DEFAULT_MAX_PAYLOAD));
  } catch (err) {
    return send(o, msg, failure(o, msg, err));
  }
  if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
    return Promise.resolve(result).then((data: unknown) => send(o, msg, { ok: true, data: data ?? null }), (err: unknown) => send(o, msg, failure(o, msg, err)));
  }
  return send(o, msg, { ok: true, data: result ?? null });
}

/**
 * Logs dropped requests without letting a flood of them flood the log: the first per subject at once,
 * then one line a minute with how many more were dropped.
 */
function refusalLog(log: Logger): (subject: string, replyTo: string | undefined) => void {
  const seen = new Map<string, { at: number; dropped: number }>();
  return (subject, replyTo) => {
    const now = Date.now();
    const s = seen.get(subject);
    if (s && now - s.at < 60_000) {
      s.dropped++;
      return;
    }
    if (seen.size > 1000) seen.clear();
    seen.set(subject, { at: now, dropped: 0 });
    log.warn({ subject, replyTo: String(replyTo ?? '').slice(0, 128), droppedSinceLast: s?.dropped ?? 0 },
      'request dropped unanswered: its reply subject is not the inbox of an identity that may ask this');
  };
}

function failure(o: Pick<ServeOptions, 'log'>, msg: Msg, err: unknown): Reply {
  const e = toErrorData(err);
  if (e.code === ErrorCode.INTERNAL) o.log.error({ err, subject: msg.subject }, 'handler failed');
  return { ok: false, error: e };
}

function send(o: Pick<ServeOptions, 'log'>, msg: Msg, reply: Reply): void {
  if (!msg.reply) return;
  try {
    msg.respond(encode(reply));
  } catch (err) {
    o.log.error({ err, subject: msg.subject }, 'could not send reply');
  }
}
