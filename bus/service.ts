// Serves a manifest's ops and commands: decode, validate, verify signatures, dispatch, reply — never crash.
import type { Msg } from '@nats-io/nats-core';
import type { BusClient, Reply } from './client.js';
import { decode, encode, DEFAULT_MAX_PAYLOAD } from './codec.js';
import { NonceCache, verifyCommand, type TrustedOperator } from './envelope.js';
import type { ActorManifest, OpSpec } from './manifest.js';
import { check } from './schema.js';
import { effectiveManifest } from './standard-ops.js';
import { commandSubject, inboxIdentity, serveSubject } from './subjects.js';
import { ErrorCode, SecaiError, toErrorData } from '../common/errors.js';
import type { Logger } from '../common/log.js';

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
  /** Streaming ops only: sends one chunk to the requester before the final reply. */
  chunk?: (data: unknown) => void;
  /** The requester's reply subject, always an inbox of `caller`. For streams: one per request. */
  replyTo: string;
}

export type Handler = (request: any, call: CallContext) => unknown | Promise<unknown>;
export type Handlers = Record<string, Handler>;

export interface ServeOptions {
  bus: BusClient;
  manifest: ActorManifest;
  /** Handlers for served ops, by op name. */
  ops: Handlers;
  /** Handlers for signed commands, by op name. */
  commands: Handlers;
  operators: { lookup(keyId: string): TrustedOperator | undefined };
  log: Logger;
  /** Replay window for command envelopes (default 60 s). */
  windowMs?: number;
  /** Whether to publish command_rejected/accepted events (actors yes; the supervisor has its own). */
  auditCommands?: boolean;
  now?: () => number;
  /**
   * For every served and command subject, the identities that may ask it: `bus/callers.json`, which
   * prepareBus compiles with the server's ACL (`allowedCallers(manifests)` in tests). A request whose reply subject is not one of their inboxes is dropped unanswered: a
   * chosen reply subject must never make this actor publish somewhere else (a forged event).
   */
  callers: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Subscribes every op and command of the manifest. Returns a function that unsubscribes them. */
export function serveManifest(o: ServeOptions): () => void {
  const m = effectiveManifest(o.manifest);
  const startedAt = (o.now ?? Date.now)();
  const windowMs = o.windowMs ?? 60_000;
  const nonces = new NonceCache(windowMs);
  const subs: { unsubscribe(): void }[] = [];
  const refused = refusalLog(o.log);
  /** The caller whose inbox `msg.reply` is, or undefined (and the request is dropped, logged) if it may not ask. */
  const callerOf = (msg: Msg, subject: string): string | undefined => {
    const who = inboxIdentity(msg.reply);
    if (who && o.callers.get(subject)?.has(who)) return who;
    refused(subject, msg.reply);
    return undefined;
  };

  for (const [op, spec] of Object.entries(m.serves)) {
    const handler = o.ops[op];
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
    const handler = o.commands[op];
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
            await o.bus.publishEvent(m.name, 'command_rejected', { subject, code: e.code, reason: e.message.slice(0, 512), keyId, nonce }).catch(() => {});
          }
          throw err;
        }
        const args = check(spec.request, verified.args, `${op} command`);
        if (o.auditCommands !== false) {
          await o.bus.publishEvent(m.name, 'command_accepted', { subject, keyId, nonce }).catch(() => {});
        }
        return handler(args, { subject, caller, replyTo: msg.reply!, operator: verified.operator });
      });
    }));
  }

  return () => subs.forEach((s) => s.unsubscribe());
}

/**
 * Decodes, runs and replies. A handler that returns a plain value is answered synchronously, inside the
 * subscription's callback (no promise hops on the hot path); a promise is answered when it settles.
 */
function respond(o: ServeOptions, msg: Msg, spec: OpSpec, run: (payload: unknown) => unknown): void | Promise<void> {
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

function failure(o: ServeOptions, msg: Msg, err: unknown): Reply {
  const e = toErrorData(err);
  if (e.code === ErrorCode.INTERNAL) o.log.error({ err, subject: msg.subject }, 'handler failed');
  return { ok: false, error: e };
}

function send(o: ServeOptions, msg: Msg, reply: Reply): void {
  if (!msg.reply) return;
  try {
    msg.respond(encode(reply));
  } catch (err) {
    o.log.error({ err, subject: msg.subject }, 'could not send reply');
  }
}
