// Watches nats-server from the supervisor: its kernel state on SIGCHLD, a ping round trip on the ping beats; three beats stopped or unanswered and it is reported hung.
import type { BusClient } from '../../bus/client.js';
import type { Logger } from '../../common/log.js';
import { isStopped, onChildStateChange, procView } from './proc-view.js';

export interface BusHeartbeatOptions {
  bus: BusClient;
  /** 0: off. */
  intervalMs: number;
  misses: number;
  /** The server's pid now (0 while it is being restarted): its kernel state is read on SIGCHLD and while it matters. */
  pid: () => number;
  log: Logger;
  /** Called once per hang; the caller kills the server (its exit handler restarts it). */
  onUnresponsive: (missed: number) => void;
}

/**
 * A PING/PONG round trip (nats.js `flush`) proves the server's loop runs; a live TCP connection does not:
 * a SIGSTOPped server keeps every socket open and answers nothing, and the client's own ping interval is minutes.
 * As for the actors: the kernel's view of the server is read on SIGCHLD and on beats while it matters (a stopped
 * server counts at once, and costs the server no wakeup); the round trip goes out when the supervisor's cadence
 * says, and every beat while one is unanswered.
 */
export class BusHeartbeat {
  private outstanding = 0;
  private missed = 0;
  private paused = false;
  /** The kernel's view said the server is stopped when last read (on SIGCHLD, and every beat while it matters). */
  private stoppedSeen = false;
  private readonly unwatch: () => void;
  /** False from a hang until the next answered ping. */
  responsive = true;

  constructor(private readonly o: BusHeartbeatOptions) {
    this.unwatch = o.intervalMs > 0 ? onChildStateChange(() => { this.stoppedSeen = isStopped(procView(o.pid())); }) : () => {};
  }

  close(): void {
    this.unwatch();
  }

  /** The server answers and is not being restarted: only then does an actor's unanswered bus ping say anything about the actor. */
  get healthy(): boolean {
    return !this.paused && this.responsive && !this.o.bus.nc.isClosed();
  }

  /** Called once per heartbeat interval by the supervisor's one timer; `pingDue` on the beats that ping. */
  beat(pingDue: boolean): void {
    if (this.o.intervalMs <= 0 || this.paused || this.o.bus.nc.isClosed()) return;
    if (this.stoppedSeen || this.outstanding) this.stoppedSeen = isStopped(procView(this.o.pid()));
    const stopped = this.stoppedSeen;
    if (this.outstanding || stopped) {
      if (++this.missed >= this.o.misses) {
        this.responsive = false;
        const missed = this.missed;
        this.pause();
        this.o.onUnresponsive(missed);
        return;
      }
    }
    if (!this.outstanding && (pingDue || stopped)) this.ping();
  }

  /** While the server is down on purpose (exited, restarting), pings prove nothing. */
  pause(): void {
    this.paused = true;
    this.stoppedSeen = false;
    this.outstanding = 0;
    this.missed = 0;
  }

  resume(): void {
    this.paused = false;
    this.outstanding = 0;
    this.missed = 0;
  }

  private ping(): void {
    const token = (this.outstanding = Date.now());
    this.o.bus.nc.flush().then(
      () => {
        if (this.outstanding !== token) return;
        this.outstanding = 0;
        this.missed = 0;
        this.responsive = true;
      },
      (err: Error) => this.o.log.debug({ err: err.message }, 'bus ping failed'),
    );
  }
}
