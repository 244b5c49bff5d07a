// A bus connection under one identity: typed requests with deadlines, signed commands, acked events.
import { connect } from '@nats-io/transport-node';
import {
  AuthorizationError, createInbox, NoRespondersError, PermissionViolationError, RequestError, TimeoutError,
  type Msg, type NatsConnection, type Subscription,
} from '@nats-io/nats-core';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { decode, encode, DEFAULT_MAX_PAYLOAD } from './codec.js';
import { signCommand, type OperatorKey } from './envelope.js';
import type { Identity } from './identities.js';
import { nkeyAuth } from './nkey.js';
import type { OpRef } from './op-ref.js';
import { check, type JsonSchema } from './schema.js';
import { commandSubject, eventSubject, inboxPrefix, parseSubject, serveSubject } from './subjects.js';
import { ErrorCode, SecaiError, type ErrorData } from '../common/errors.js';

/** Every reply on the bus has this shape; errors cross as data and become SecaiError again here. */
export type Reply<T = unknown> = { ok: true; data: T } | { ok: false; error: ErrorData };

export interface ConnectOptions {
  url: string;
  identity: Identity;
  /** Keep reconnecting forever (actors) or fail fast (CLI). */
  reconnect?: boolean;
  /** The deadline for the whole connect, retries included (default 20 s, or 5 s with `reconnect: false`). */
  timeoutMs?: number;
  /** How long a command waits for its answer unless the caller says otherwise (default 10 s; the CLI: SECAI_CLI_DEADLINE_MS). */
  commandTimeoutMs?: number;
}

/** BusClient.close waits this long for a drain: a hung server must not keep a client (a CLI verb) from exiting. */
export const CLOSE_DRAIN_MS = 2000;

/**
 * One attempt waits 1 s, then 2 s, then 3 s at most: nats.js does not give up on an attempt the server
 * refused ("maximum connections exceeded") before its timeout, so a short first attempt makes a
 * refusal cheap, and later ones leave room for a SYN retransmitted by a flooded accept queue (1 s).
 */
const ATTEMPT_MS = { first: 1000, step: 1000, max: 3000 } as const;

export class BusClient {
  readonly js: JetStreamClient;
  /** Requests waiting for an answer (a watchdog can name the actor that does not answer). */
  readonly pending = new Set<{ subject: string; since: number; timeoutMs: number }>();
  commandTimeoutMs = 10_000;

  private constructor(readonly nc: NatsConnection, readonly name: string) {
    this.js = jetstream(nc);
  }

  /**
   * Connects, retrying with backoff until the deadline: under a connection flood an attempt can be
   * refused (no free slot) or time out, and the next one gets in. A wrong key is never retried.
   */
  static async connect(o: ConnectOptions): Promise<BusClient> {
    const deadline = Date.now() + (o.timeoutMs ?? (o.reconnect === false ? 5000 : 20_000));
    let delayMs = 50;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const nc = await connect({
          servers: o.url,
          name: o.identity.name,
          authenticator: nkeyAuth(o.identity.nkey),
          inboxPrefix: inboxPrefix(o.identity.name),
          maxReconnectAttempts: o.reconnect === false ? 0 : -1,
          reconnectTimeWait: 100,
          timeout: Math.max(250, Math.min(ATTEMPT_MS.first + ATTEMPT_MS.step * (attempts - 1), ATTEMPT_MS.max, deadline - Date.now())),
          noEcho: true,
        });
        const bus = new BusClient(nc, o.identity.name);
        if (o.commandTimeoutMs) bus.commandTimeoutMs = o.commandTimeoutMs;
        return bus;
      } catch (err) {
        if (!retryableConnectError(err, o.reconnect !== false) || Date.now() + delayMs >= deadline) {
          throw new SecaiError(ErrorCode.NOT_RUNNING, `cannot reach the bus at ${o.url} as ${o.identity.name} (${attempts} attempt${attempts === 1 ? '' : 's'}): ${(err as Error).message}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(1000, delayMs * 2);
      }
    }
  }

  /**
   * Requests a typed op (`serveOp(manifest, op)`): the payload is the op's request type, and the reply
   * is checked against the op's reply schema where it enters this process; a reply that does not
   * match is SECAI_E_SCHEMA naming the op, whatever the responder meant.
   */
  async call<Req, Rep>(ref: OpRef<Req, Rep, unknown>, payload: Req, timeoutMs = ref.timeoutMs ?? 5000): Promise<Rep> {
    return checkReply(ref, await this.requestSubject(serveSubject(ref.actor, ref.op), payload, timeoutMs));
  }

  /** Sends a typed signed command (`commandOp(manifest, op)`), its reply checked as `call` checks one. */
  async callCommand<Req extends Record<string, unknown>, Rep>(key: OperatorKey, ref: OpRef<Req, Rep, unknown>, args: Req, timeoutMs = ref.timeoutMs ?? this.commandTimeoutMs): Promise<Rep> {
    const subject = commandSubject(ref.actor, ref.op);
    return checkReply(ref, await this.requestSubject(subject, await signCommand(key, subject, args), timeoutMs));
  }

  /** Requests a typed streaming op: every chunk is checked against the op's chunk schema, the end against its reply schema. */
  async *callStream<Req, Rep, Chunk>(ref: OpRef<Req, Rep, Chunk>, payload: Req, idleMs = ref.timeoutMs ?? 30_000): AsyncGenerator<Chunk, Rep, undefined> {
    const it = this.requestStream(ref.actor, ref.op, payload, idleMs);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return checkReply(ref, r.value);
        yield ref.chunk ? checkEntering<Chunk>(ref, ref.chunk, r.value, 'chunk') : (r.value as Chunk);
      }
    } finally {
      // The caller stopped early (or a chunk was refused): stop listening.
      await it.return(undefined);
    }
  }

  /**
   * Request `secai.<actor>.<op>`; resolves with the reply data or throws the remote SecaiError. The
   * reply is NOT checked: for probes and tests; code calls typed ops with `call`.
   */
  request<T = unknown>(actor: string, op: string, payload: unknown = {}, timeoutMs = 5000): Promise<T> {
    return this.requestSubject<T>(serveSubject(actor, op), payload, timeoutMs);
  }

  /** Sends a signed operator command to `secai.cmd.<actor>.<op>`, reply unchecked (tests; code uses `callCommand`). */
  async command<T = unknown>(key: OperatorKey, actor: string, op: string, args: Record<string, unknown> = {}, timeoutMs = this.commandTimeoutMs): Promise<T> {
    const subject = commandSubject(actor, op);
    return this.requestSubject<T>(subject, await signCommand(key, subject, args), timeoutMs);
  }

  async requestSubject<T>(subject: string, payload: unknown, timeoutMs: number): Promise<T> {
    let msg: Msg;
    const entry = { subject, since: Date.now(), timeoutMs };
    this.pending.add(entry);
    try {
      msg = await this.nc.request(subject, encode(payload), { timeout: timeoutMs });
    } catch (err) {
      throw mapRequestError(err, subject, timeoutMs);
    } finally {
      this.pending.delete(entry);
    }
    return unwrapReply<T>(msg.data, subject);
  }

  /**
   * Requests a streaming op (OpSpec.stream): yields each chunk the responder sends, then returns its
   * final reply. `idleMs` bounds the wait for every message; breaking out of the loop stops listening.
   */
  async *requestStream<C = unknown, T = unknown>(actor: string, op: string, payload: unknown, idleMs = 30_000): AsyncGenerator<C, T, undefined> {
    const subject = serveSubject(actor, op);
    const inbox = createInbox(inboxPrefix(this.name));
    const sub = this.nc.subscribe(inbox);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { timedOut = true; sub.unsubscribe(); }, idleMs);
    };
    try {
      arm();
      this.nc.publish(subject, encode(payload), { reply: inbox });
      for await (const m of sub) {
        arm();
        // The server answers a request nobody subscribes with an empty 503 status message.
        if (m.data.length === 0 && m.headers?.code === 503) throw new SecaiError(ErrorCode.NO_RESPONDER, `no actor serves ${subject}`);
        const r = decode(m.data, 16 * DEFAULT_MAX_PAYLOAD) as (Reply & { more?: boolean }) | undefined;
        if (r && typeof r === 'object' && r.ok === true && r.more === true) {
          yield r.data as C;
          continue;
        }
        return unwrapReply<T>(m.data, subject);
      }
      const closed = await sub.closed;
      if (closed instanceof Error) throw mapRequestError(closed, subject, idleMs);
      throw new SecaiError(timedOut ? ErrorCode.TIMEOUT : ErrorCode.INTERNAL, timedOut ? `no message on ${subject} within ${idleMs} ms` : `stream on ${subject} ended without a reply`);
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  /** Publishes an event through JetStream and waits for the stream's ack: an acked event is durable. */
  async publishEvent(actor: string, event: string, payload: unknown): Promise<void> {
    const subject = eventSubject(actor, event);
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.js.publish(subject, encode(payload), { timeout: 2000 });
        return;
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    throw new SecaiError(ErrorCode.INTERNAL, `event ${subject} was not acknowledged: ${(lastErr as Error)?.message}`, { cause: lastErr });
  }

  /** Publishes without an ack (state snapshots: the next one supersedes a lost one). */
  publish(subject: string, payload: unknown): void {
    this.nc.publish(subject, encode(payload));
  }

  /**
   * Subscribes with a callback (no async iterator between the socket and the handler). Messages are
   * handled one at a time in arrival order: a handler's returned promise holds the next message back.
   */
  subscribe(subject: string, onMessage: (msg: Msg) => void | Promise<void>, queue?: string): Subscription {
    const pending: Msg[] = [];
    let busy = false;
    const drain = (): void => {
      busy = true;
      while (pending.length) {
        let r: void | Promise<void>;
        try {
          r = onMessage(pending.shift()!);
        } catch {
          // a handler failure is the handler's to report; the subscription goes on
          continue;
        }
        if (r instanceof Promise) {
          r.then(drain, drain);
          return;
        }
      }
      busy = false;
    };
    return this.nc.subscribe(subject, {
      ...(queue && { queue }),
      callback: (err, m) => {
        if (err) return;
        pending.push(m);
        if (!busy) drain();
      },
    });
  }

  /** Drains (answers in flight still go out), but for CLOSE_DRAIN_MS at most: then closes. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), CLOSE_DRAIN_MS); });
    try {
      if ((await Promise.race([this.nc.drain(), capped])) === 'late') await this.nc.close();
    } catch {
      await this.nc.close();
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A reply (or stream chunk) that did not match its op's schema, refused by this client: SECAI_E_SCHEMA
 * like a refused request, but a class of its own, so a caller can tell "the responder sent garbage"
 * from "the responder refused what I sent".
 */
export class ReplySchemaError extends SecaiError {
  constructor(readonly op: string, message: string, options?: ErrorOptions) {
    super(ErrorCode.SCHEMA, message, options);
  }
}

/** Checks data that entered this client against a schema of `ref`; a mismatch is a ReplySchemaError naming the op. */
function checkEntering<T>(ref: OpRef<unknown, unknown, unknown>, schema: JsonSchema, data: unknown, what: string): T {
  try {
    return check<T>(schema, data, `${what} of ${ref.actor}.${ref.op}`);
  } catch (err) {
    throw new ReplySchemaError(`${ref.actor}.${ref.op}`, (err as Error).message, { cause: err });
  }
}

/** A reply that does not match the op's reply schema is refused here, before anything acts on it. */
function checkReply<Rep>(ref: OpRef<unknown, Rep, unknown>, data: unknown): Rep {
  return checkEntering<Rep>(ref, ref.reply, data, 'reply');
}

export function unwrapReply<T>(data: Uint8Array, subject: string): T {
  const reply = decode(data, 16 * DEFAULT_MAX_PAYLOAD) as Reply<T> | undefined;
  if (!reply || typeof reply !== 'object' || typeof reply.ok !== 'boolean') {
    throw new SecaiError(ErrorCode.BAD_MESSAGE, `malformed reply on ${subject}`);
  }
  if (reply.ok) return reply.data;
  const e = reply.error ?? { code: ErrorCode.INTERNAL, message: 'error without detail' };
  throw SecaiError.fromData({ code: String(e.code), message: String(e.message) });
}

/**
 * An authorization violation means a wrong or unknown key: retrying cannot help. A refused connect
 * means no server: an actor waits for the supervisor to restart it, the CLI says so at once. The rest
 * (a timeout, the auth timeout of a starved client, "maximum connections exceeded") is what a flood
 * looks like from here, and the next attempt may get a slot.
 */
function retryableConnectError(err: unknown, retryRefused: boolean): boolean {
  const e = err as { message?: string; cause?: { code?: string } };
  const msg = String(e?.message ?? '').toLowerCase();
  if (err instanceof AuthorizationError && msg.includes('authorization violation')) return false;
  if (e?.cause?.code === 'ECONNREFUSED' || msg.includes('connection refused')) return retryRefused;
  return true;
}

/** "actor 'audit'" for secai.audit.tail or secai.cmd.audit.ping: the operator learns which part did not answer. */
export function whoServes(subject: string): string {
  const p = parseSubject(subject);
  return p ? `actor '${p.actor}'` : `the responder of ${subject}`;
}

function mapRequestError(err: unknown, subject: string, timeoutMs: number): SecaiError {
  const cause = err instanceof RequestError && err.cause ? err.cause : err;
  if (cause instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return new SecaiError(ErrorCode.NO_RESPONDER, `no actor serves ${subject}`, { cause: err });
  }
  if (cause instanceof PermissionViolationError) {
    return new SecaiError(ErrorCode.PERMISSION, `permission denied: ${cause.operation} ${cause.subject}`, { cause: err });
  }
  if (cause instanceof TimeoutError || err instanceof TimeoutError) {
    return new SecaiError(ErrorCode.TIMEOUT, `${whoServes(subject)} did not answer within ${timeoutMs} ms (no reply on ${subject})`, { cause: err });
  }
  if (err instanceof SecaiError) return err;
  // nats.js refuses to publish past the server's max_payload: the caller sent too much, not an internal fault.
  if (/max_payload/i.test((cause as Error)?.message ?? '')) return new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `request on ${subject} is larger than the bus carries`, { cause: err });
  return new SecaiError(ErrorCode.INTERNAL, `request on ${subject} failed: ${(err as Error).message}`, { cause: err });
}
