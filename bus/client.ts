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
import { commandSubject, eventSubject, inboxPrefix, serveSubject } from './subjects.js';
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
}

/**
 * One attempt waits 1 s, then 2 s, then 3 s at most: nats.js does not give up on an attempt the server
 * refused ("maximum connections exceeded") before its timeout, so a short first attempt makes a
 * refusal cheap, and later ones leave room for a SYN retransmitted by a flooded accept queue (1 s).
 */
const ATTEMPT_MS = { first: 1000, step: 1000, max: 3000 } as const;

export class BusClient {
  readonly js: JetStreamClient;

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
        return new BusClient(nc, o.identity.name);
      } catch (err) {
        if (!retryableConnectError(err, o.reconnect !== false) || Date.now() + delayMs >= deadline) {
          throw new SecaiError(ErrorCode.NOT_RUNNING, `cannot reach the bus at ${o.url} as ${o.identity.name} (${attempts} attempt${attempts === 1 ? '' : 's'}): ${(err as Error).message}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(1000, delayMs * 2);
      }
    }
  }

  /** Request `secai.<actor>.<op>`; resolves with the reply data or throws the remote SecaiError. */
  request<T = unknown>(actor: string, op: string, payload: unknown = {}, timeoutMs = 5000): Promise<T> {
    return this.requestSubject<T>(serveSubject(actor, op), payload, timeoutMs);
  }

  /** Sends a signed operator command to `secai.cmd.<actor>.<op>`. */
  async command<T = unknown>(key: OperatorKey, actor: string, op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    const subject = commandSubject(actor, op);
    return this.requestSubject<T>(subject, await signCommand(key, subject, args), timeoutMs);
  }

  async requestSubject<T>(subject: string, payload: unknown, timeoutMs: number): Promise<T> {
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, encode(payload), { timeout: timeoutMs });
    } catch (err) {
      throw mapRequestError(err, subject, timeoutMs);
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

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
  }
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

function mapRequestError(err: unknown, subject: string, timeoutMs: number): SecaiError {
  const cause = err instanceof RequestError && err.cause ? err.cause : err;
  if (cause instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return new SecaiError(ErrorCode.NO_RESPONDER, `no actor serves ${subject}`, { cause: err });
  }
  if (cause instanceof PermissionViolationError) {
    return new SecaiError(ErrorCode.PERMISSION, `permission denied: ${cause.operation} ${cause.subject}`, { cause: err });
  }
  if (cause instanceof TimeoutError || err instanceof TimeoutError) {
    return new SecaiError(ErrorCode.TIMEOUT, `no reply on ${subject} within ${timeoutMs} ms`, { cause: err });
  }
  if (err instanceof SecaiError) return err;
  // nats.js refuses to publish past the server's max_payload: the caller sent too much, not an internal fault.
  if (/max_payload/i.test((cause as Error)?.message ?? '')) return new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `request on ${subject} is larger than the bus carries`, { cause: err });
  return new SecaiError(ErrorCode.INTERNAL, `request on ${subject} failed: ${(err as Error).message}`, { cause: err });
}
