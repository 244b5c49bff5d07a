// The parent's side of one sandboxed worker, whatever it hosts: spawn, handshake, checked messages, load, death.
import { EventEmitter } from 'node:events';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { killWorker, spawnWorker, type SandboxedWorker, type SandboxOptions } from './sandbox.js';

/** The types of one worker's protocol (workers/protocol.ts, workers/diffusion/protocol.ts). */
export interface WorkerProtocol {
  /** What the worker sends (untrusted). */
  from: { type: string };
  /** What the parent sends. */
  to: { type: string };
  /** The `type` of the worker's first message, sent once it listens. */
  started: string;
  /** What a load resolves with. */
  loaded: unknown;
}

/** A message from the worker after its handshake: what a subclass handles. */
export type WorkerReply<P extends WorkerProtocol> = Exclude<P['from'], { type: P['started'] }>;

/** How a worker kind differs from the next, beyond its message handling. */
export interface WorkerSpec<P extends WorkerProtocol> {
  /** Names the worker in crash messages: 'model worker'. */
  label: string;
  /** What a load loads, for its timeout message: 'model'. */
  loads: string;
  started: P['started'];
  /** Checks a message from the worker; throws SECAI_E_WORKER_PROTOCOL. */
  parse: (raw: unknown) => P['from'];
  cancel: (id: string) => P['to'];
  /** Asks the worker to exit. */
  stop: P['to'];
}

interface Waiter<T> {
  resolve: (r: T) => void;
  reject: (e: SecaiError) => void;
}

/** Removes and returns the waiter for id: a request is answered once. */
export function take<W>(waiters: Map<string, W>, id: string): W | undefined {
  const w = waiters.get(id);
  waiters.delete(id);
  return w;
}

export abstract class WorkerProcess<P extends WorkerProtocol> extends EventEmitter<{ exit: [code: number | null, signal: string | null] }> {
  readonly sandboxed: boolean;
  /** The first protocol violation, if any (the worker has been killed for it). */
  protocolError: SecaiError | undefined;
  protected readonly w: SandboxedWorker;
  private exited = false;
  private stderrTail = '';
  private readonly started: Promise<void>;
  /** Why the actor killed it (a memory limit): what its load and requests fail with. */
  private fatal: SecaiError | undefined;
  private loadWaiter: Waiter<P['loaded']> | undefined;

  constructor(private readonly spec: WorkerSpec<P>, o: SandboxOptions) {
    super();
    this.w = spawnWorker(o);
    this.sandboxed = this.w.sandboxed;
    const child = this.w.child;
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-2000); });
    let onStarted: () => void = () => {};
    let failStart: (e: SecaiError) => void = () => {};
    this.started = new Promise((resolve, reject) => {
      onStarted = resolve;
      failStart = reject;
      child.once('exit', () => reject(this.fatal ?? this.crashError('the worker exited before it started')));
    });
    this.started.catch(() => {}); // lint-ok: loadWith() awaits and reports it; this only keeps an early crash from being an unhandled rejection
    // Everything the worker says is checked first: it runs model code and is not trusted.
    child.on('message', (raw: unknown) => {
      let m: P['from'];
      try {
        m = spec.parse(raw);
      } catch (err) {
        this.protocolViolation(err as SecaiError);
        return;
      }
      if (m.type === spec.started) onStarted();
      else this.onMessage(m as WorkerReply<P>);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.failAll(this.fatal ?? this.crashError(`the ${spec.label} stopped (${signal ?? `exit ${code}`})`));
      this.emit('exit', code, signal);
    });
    // A message sent into a channel the worker has just closed (EPIPE) comes back as 'error', after send returned:
    // unheard, it would be an uncaught exception that ends the actor. The worker is gone or going, so it is killed and
    // its exit fails what waits. A spawn that failed has no exit to wait for: it fails everything here.
    child.on('error', (err) => {
      if (this.exited) return;
      if (child.pid !== undefined) {
        this.kill();
        return;
      }
      this.exited = true;
      const e = this.crashError(`the ${spec.label} did not start (${err.message})`);
      this.failAll(e);
      failStart(e);
      this.emit('exit', null, null);
    });
  }

  /** Handles one checked message after the handshake. */
  protected abstract onMessage(m: WorkerReply<P>): void;

  /** Fails every request waiting on the worker (it died or broke the protocol). */
  protected abstract failRequests(e: SecaiError): void;

  get pid(): number | undefined {
    return this.w.child.pid;
  }

  get argv(): readonly string[] {
    return this.w.argv;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Why the actor killed it, if it did (the worker host fails the running job with it). */
  get exitError(): SecaiError | undefined {
    return this.fatal;
  }

  private crashError(message: string): SecaiError {
    const tail = this.stderrTail.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
    return new SecaiError(ErrorCode.WORKER_CRASHED, tail ? `${message}: ${tail}` : message);
  }

  private failAll(e: SecaiError): void {
    this.failLoad(e);
    this.failRequests(e);
  }

  /**
   * A message outside the protocol: the worker is broken or hostile, and nothing it says can be matched to a request
   * any more. Everything waiting fails with the violation now (not later with the kill's exit) and the worker is
   * killed (its exit is then seen as any crash is); the actor itself goes on.
   */
  protected protocolViolation(e: SecaiError): void {
    if (this.exited) return;
    this.protocolError ??= e;
    this.failAll(e);
    this.kill();
  }

  protected send(m: P['to']): void {
    if (this.exited || !this.w.child.connected) throw new SecaiError(ErrorCode.WORKER_CRASHED, `the ${this.spec.label} is not running`);
    this.w.child.send(m);
  }

  /** Sends the load once the worker has started; a load that outlasts timeoutMs fails with TIMEOUT and the worker is killed. */
  protected async loadWith(m: P['to'], timeoutMs: number): Promise<P['loaded']> {
    await this.started;
    return new Promise<P['loaded']>((resolve, reject) => {
      const t = setTimeout(() => { reject(new SecaiError(ErrorCode.TIMEOUT, `${this.spec.loads} load took over ${timeoutMs} ms`)); this.kill(); }, timeoutMs);
      const waiter: Waiter<P['loaded']> = {
        resolve: (r) => { clearTimeout(t); resolve(r); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      this.loadWaiter = waiter;
      try {
        this.send(m);
      } catch (err) {
        waiter.reject(err as SecaiError);
      }
    });
  }

  protected loaded(r: P['loaded']): void {
    this.loadWaiter?.resolve(r);
    this.loadWaiter = undefined;
  }

  protected failLoad(e: SecaiError): void {
    this.loadWaiter?.reject(e);
    this.loadWaiter = undefined;
  }

  /** Registers a waiter under id, then sends m; a send that fails (the worker is gone) rejects at once. */
  protected request<R, W>(waiters: Map<string, W>, id: string, waiter: (resolve: (r: R) => void, reject: (e: SecaiError) => void) => W, m: P['to']): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      waiters.set(id, waiter(resolve, reject));
      try {
        this.send(m);
      } catch (err) {
        waiters.delete(id);
        reject(err as SecaiError);
      }
    });
  }

  cancel(id: string): void {
    if (this.alive && this.w.child.connected) this.w.child.send(this.spec.cancel(id));
  }

  /** Kills the worker for a reason: what waits on it fails with that error, not as a crash. */
  terminate(e: SecaiError): void {
    this.fatal ??= e;
    this.kill();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) killWorker(this.w, signal);
  }

  /** Asks the worker to exit (releasing what it holds), then kills it if it lingers. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.once('exit', () => r()));
    try { this.send(this.spec.stop); } catch { /* lint-ok: already gone */ }
    const t = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }
}
