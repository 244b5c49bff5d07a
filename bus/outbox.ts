// An in-memory, ordered outbox for events that must not wait on (or be lost to) a JetStream that cannot store now.
import type { BusClient } from './client.js';
import type { Logger } from '../common/log.js';
import type { UnpublishedEvents } from '../common/published-or-logged.js';

interface Entry {
  actor: string;
  event: string;
  payload: unknown;
  acked: Promise<void>;
  resolve: () => void;
  /** Counted as unpublished already (on its first failed attempt). */
  counted: boolean;
}

/** At most this many events wait; one more is dropped and counted (the log says so): memory is bounded too. */
export const OUTBOX_MAX = 10_000;

/**
 * Events are published one at a time in the order pushed, each retried until JetStream acknowledges it, so a lock,
 * a panic or a lifecycle fact that happens while storage is full reaches the audit chain when storage returns, in
 * order. The outbox lives in the process's memory: a process killed before its outbox drains loses what it held
 * (docs/threat-model.md says so).
 */
export class EventOutbox {
  private readonly queue: Entry[] = [];
  private draining = false;
  /** The head event failed its last attempt: what is pushed meanwhile waits behind it (and counts as not published). */
  private failing = false;
  dropped = 0;

  /**
   * @param unpublished where an event whose publish failed is counted and logged (once, on its first failed
   *   attempt): ping and status show it as not published, though the outbox still holds it and retries
   */
  constructor(private readonly bus: BusClient, private readonly log?: Logger, private readonly unpublished?: UnpublishedEvents) {}

  get size(): number {
    return this.queue.length;
  }

  /** Queues the event; the promise settles when it is acknowledged (callers may wait a bounded time, or not at all). */
  push(actor: string, event: string, payload: unknown): Promise<void> {
    if (this.queue.length >= OUTBOX_MAX) {
      this.dropped++;
      this.log?.error({ event: `${actor}.${event}`, dropped: this.dropped }, 'event outbox full: event dropped');
      this.unpublished?.failed(event, new Error('event outbox full: dropped'));
      return Promise.resolve();
    }
    let resolve!: () => void;
    const acked = new Promise<void>((r) => { resolve = r; });
    const counted = this.failing;
    if (counted) this.unpublished?.failed(event, new Error('held in the outbox: JetStream is not storing events now'));
    this.queue.push({ actor, event, payload, acked, resolve, counted });
    void this.drain();
    return acked;
  }

  /** Waits until the event is acknowledged or `ms` passed; true if it was acknowledged. */
  static within(acked: Promise<void>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      acked.then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); }),
    ]).finally(() => clearTimeout(timer));
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    let delay = 250;
    try {
      while (this.queue.length && !this.bus.nc.isClosed()) {
        const e = this.queue[0]!;
        try {
          await this.bus.publishEvent(e.actor, e.event, e.payload);
          this.queue.shift();
          e.resolve();
          if (this.failing) this.log?.info({ waiting: this.queue.length }, 'event outbox draining again');
          this.failing = false;
          delay = 250;
        } catch (err) {
          if (!e.counted) {
            e.counted = true;
            this.unpublished?.failed(e.event, err);
          }
          if (!this.failing) this.log?.warn({ event: `${e.actor}.${e.event}`, waiting: this.queue.length, err: (err as Error).message }, 'events held in the outbox until JetStream stores again');
          this.failing = true;
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(2000, delay * 2);
        }
      }
    } finally {
      this.draining = false;
    }
  }
}

const outboxes = new WeakMap<BusClient, EventOutbox>();

/** The one outbox of a connection: every essential event of a process goes through it, so they stay in order. */
export function outboxFor(bus: BusClient, log?: Logger, unpublished?: UnpublishedEvents): EventOutbox {
  let o = outboxes.get(bus);
  if (!o) outboxes.set(bus, (o = new EventOutbox(bus, log, unpublished)));
  return o;
}
