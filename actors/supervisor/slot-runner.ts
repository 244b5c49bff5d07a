// Runs one actor slot: the slot machine with real effects (fork, SIGKILL, /proc reads, IPC heartbeats, lifecycle events).
import type { ChildProcess } from 'node:child_process';
import { createActor, type SnapshotFrom } from 'xstate';
import type { Logger } from '../../common/log.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { stopProcess } from '../../bus/server.js';
import { slotMachine, type SlotState } from '../../machines/supervisor/slot.machine.js';
import type { BackoffPolicy } from './backoff.js';
import { isStopped, onChildStateChange, procView } from './proc-view.js';

export type SlotEventName = 'actor_started' | 'actor_exited' | 'actor_unresponsive' | 'actor_failed';

export interface SlotRunnerOptions {
  name: string;
  /** Forks the actor's process (with its environment and IPC channel). */
  fork: () => ChildProcess;
  policy: BackoffPolicy;
  readyTimeoutMs: number;
  /** 0: no heartbeats (the slot then only notices deaths). */
  heartbeatMs: number;
  heartbeatMisses: number;
  /**
   * The actor's standard `ping` over the bus, and whether the bus itself answers the supervisor now (a hung or
   * restarting server is the bus heartbeat's case, not the actor's). Without it every check goes over IPC.
   */
  bus?: { ping: () => Promise<unknown>; healthy: () => boolean };
  log: Logger;
  /** Lifecycle facts for the audit chain; the runner never waits on them. */
  report: (event: SlotEventName, payload: { name: string; pid: number; restarts: number; reason: string }) => void;
  /** Called when the slot's state value changes (the supervisor republishes its chart's state). */
  onChange: () => void;
}

/** A message the supervisor and an actor exchange over the IPC channel. */
export type SlotIpc = { type: 'ready'; actor: string; pid: number } | { type: 'heartbeat'; seq: number };

export class SlotRunner {
  private child: ChildProcess | undefined;
  private readonly actor;
  private seq = 0;
  private lastValue: SlotState = 'starting';
  private stopped = false;
  private lastTicks: number | undefined;
  /** The kernel's view said stopped when last read (on SIGCHLD, and every beat while it matters). */
  private stoppedSeen = false;
  private unwatch: (() => void) | undefined;
  private busPending = false;

  constructor(private readonly o: SlotRunnerOptions) {
    const machine = slotMachine.provide({
      actions: {
        spawn: () => this.spawn(),
        kill: () => { this.child?.kill('SIGKILL'); },
        ping: () => { if (!this.busPing()) this.sendHeartbeat(); },
        sendHeartbeat: () => this.sendHeartbeat(),
        reportStarted: ({ context }) => {
          this.o.log.info({ actor: o.name, pid: context.pid }, 'actor ready');
          o.report('actor_started', { name: o.name, pid: context.pid, restarts: context.restarts, reason: context.restarts ? 'restarted' : 'started' });
        },
        reportExited: ({ context }) => {
          this.o.log.error({ actor: o.name, reason: context.lastReason, delayMs: context.delayMs }, 'actor exited; restarting');
          o.report('actor_exited', { name: o.name, pid: this.child?.pid ?? 0, restarts: context.restarts, reason: context.lastReason });
        },
        reportUnresponsive: ({ context }) => {
          this.o.log.error({ actor: o.name, pid: context.pid, reason: context.lastReason }, 'actor unresponsive; killing it');
          o.report('actor_unresponsive', { name: o.name, pid: context.pid, restarts: context.restarts, reason: context.lastReason });
        },
        reportFailed: ({ context }) => {
          this.o.log.fatal({ actor: o.name, streak: context.streak, reason: context.lastReason }, 'actor keeps failing; the supervisor gave up on it');
          o.report('actor_failed', { name: o.name, pid: 0, restarts: context.restarts, reason: `gave up after ${context.streak} quick failures; last: ${context.lastReason}` });
        },
      },
      delays: { readyTimeout: o.readyTimeoutMs },
    });
    this.actor = createActor(machine, { input: { name: o.name, policy: o.policy, missedLimit: o.heartbeatMisses } });
    this.actor.subscribe((s) => {
      const v = s.value as SlotState;
      if (v !== this.lastValue) {
        this.lastValue = v;
        o.onChange();
      }
    });
  }

  /** Starts the slot; resolves when the actor first reports ready, rejects if its first start fails. */
  start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      const sub = this.actor.subscribe((s) => {
        if (s.value === 'starting') return;
        sub.unsubscribe();
        if (s.value === 'ready') resolve();
        else reject(new SecaiError(ErrorCode.NOT_READY, `${this.o.name} did not become ready (${s.context.lastReason || String(s.value)})`));
      });
    });
    this.unwatch = onChildStateChange(() => this.childStateChanged());
    this.actor.start();
    return first;
  }

  /** Stops restarting, then stops the process (SIGTERM, SIGKILL after the grace). */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.actor.send({ type: 'slot.stop' });
    if (this.child) await stopProcess(this.child, graceMs);
  }

  get snapshot(): SnapshotFrom<typeof slotMachine> {
    return this.actor.getSnapshot();
  }

  get state(): SlotState {
    return this.snapshot.value as SlotState;
  }

  /** Only a ready slot serves: one that is restarting (backoff, starting) counts against health too, not only a hung or failed one. */
  get healthy(): boolean {
    return this.state === 'ready';
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * One heartbeat interval passed (the supervisor beats every slot from one timer: one wakeup, not one per actor).
   * The kernel's view comes from /proc, which wakes nobody; it is read when SIGCHLD says the process stopped or
   * continued, and on each beat only while it matters (stopped, a ping out or due: CPU use then tells busy from hung).
   * The actor itself is asked only on due beats and while one question is unanswered, so an idle appliance's liveness costs
   * one timer in the supervisor and one ping per actor every few beats.
   */
  beat(pingDue: boolean): void {
    if (this.stopped || this.o.heartbeatMs <= 0) return;
    let computing = false;
    if (this.stoppedSeen || pingDue || this.snapshot.context.missed > 0) {
      const view = procView(this.child?.pid ?? 0);
      this.stoppedSeen = isStopped(view);
      computing = view !== undefined && this.lastTicks !== undefined && view.ticks > this.lastTicks;
      this.lastTicks = view?.ticks;
    } else {
      this.lastTicks = undefined;
    }
    this.actor.send({ type: 'slot.beat_due', stopped: this.stoppedSeen, computing, pingDue });
  }

  /** SIGCHLD: some child stopped, continued or exited; whether it was this one, /proc says. */
  private childStateChanged(): void {
    if (this.o.heartbeatMs <= 0 || !this.child) return;
    this.stoppedSeen = isStopped(procView(this.child.pid ?? 0));
  }

  private sendHeartbeat(): void {
    const c = this.child;
    // A stopped process leaves the message in the pipe; only a closed channel throws.
    if (c?.connected) c.send({ type: 'heartbeat', seq: ++this.seq } satisfies SlotIpc, (err) => { if (err) this.o.log.debug({ actor: this.o.name, err: err.message }, 'heartbeat not sent'); });
  }

  /**
   * Pings the actor over the bus when the bus answers: one answer proves its event loop runs and its connection and
   * subscriptions carry requests. False when it cannot be asked that way now (no bus, the bus down, a ping still
   * out): the caller sends an IPC heartbeat instead. An unanswered ping counts only while the bus itself was healthy.
   */
  private busPing(): boolean {
    const bus = this.o.bus;
    if (!bus || this.busPending || !bus.healthy()) return false;
    const child = this.child;
    this.busPending = true;
    void bus.ping().then(
      () => 'slot.bus_answered' as const,
      (err: unknown) => {
        this.o.log.warn({ actor: this.o.name, err: (err as Error).message }, 'bus ping unanswered');
        return bus.healthy() ? 'slot.bus_missed' as const : undefined;
      },
    ).then((type) => {
      this.busPending = false;
      if (type && child === this.child && !this.stopped) this.actor.send({ type });
    });
    return true;
  }

  private spawn(): void {
    const child = this.o.fork();
    this.child = child;
    this.lastTicks = undefined;
    this.stoppedSeen = false;
    const at = Date.now();
    // Events to the machine from inside its own action are queued after it: send them on the next tick.
    queueMicrotask(() => this.actor.send({ type: 'slot.spawned', pid: child.pid ?? 0, at }));
    child.on('message', (msg: Partial<SlotIpc>) => {
      if (child !== this.child || this.stopped) return;
      if (msg?.type === 'ready') this.actor.send({ type: 'slot.ready', pid: child.pid ?? 0, at: Date.now() });
      else if (msg?.type === 'heartbeat') this.actor.send({ type: 'slot.heartbeat' });
    });
    child.once('exit', (code, signal) => {
      if (child === this.child && !this.stopped) this.actor.send({ type: 'slot.exited', code, signal, at: Date.now() });
    });
  }
}
