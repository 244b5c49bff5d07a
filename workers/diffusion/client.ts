// The parent's side of one diffusion worker: spawn it sandboxed, load a pipeline folder, run generations with
// progress, notice its death. Everything the worker says is checked first: it parses model files and images.
import { EventEmitter } from 'node:events';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { spawnWorker, DIFFUSION_WORKER_ENTRY, type SandboxedWorker, type SandboxOptions } from '../sandbox.js';
import { parseFromWorker, type FromWorker, type GenerateParams, type ModelFile, type PipelineInfo, type Provider, type ToWorker } from './protocol.js';

export type DiffusionInput = GenerateParams;

export interface DiffusionProgress {
  step: number;
  steps: number;
  ms: number;
}

export interface DiffusionResult {
  /** The PNG's bytes, base64 (as the worker sent them, checked by the protocol). */
  png: string;
  seed: number;
  width: number;
  height: number;
  steps: number;
  ms: number;
}

export interface DiffusionLoadOptions {
  modelDir: string;
  files: ModelFile[];
  threads: number;
  provider: Provider;
  timeoutMs?: number;
}

interface Pending {
  onProgress: (p: DiffusionProgress) => void;
  resolve: (r: DiffusionResult) => void;
  reject: (e: SecaiError) => void;
  /** The last step reported: progress must move forward, one step at a time. */
  step: number;
}

export class DiffusionWorker extends EventEmitter<{ exit: [code: number | null, signal: string | null] }> {
  readonly sandboxed: boolean;
  info: PipelineInfo | undefined;
  /** The first protocol violation, if any (the worker has been killed for it). */
  protocolError: SecaiError | undefined;
  private readonly w: SandboxedWorker;
  private readonly pending = new Map<string, Pending>();
  private exited = false;
  private stderrTail = '';
  private readonly started: Promise<void>;
  /** Why the actor killed it (the memory limit): what its load and generation fail with. */
  private fatal: SecaiError | undefined;
  private loadWaiter: { resolve: (i: PipelineInfo & { ms: number }) => void; reject: (e: SecaiError) => void } | undefined;

  constructor(o: SandboxOptions = {}) {
    super();
    this.w = spawnWorker({ entry: DIFFUSION_WORKER_ENTRY, ...o });
    this.sandboxed = this.w.sandboxed;
    const child = this.w.child;
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-2000); });
    let onStarted: () => void = () => {};
    this.started = new Promise((resolve, reject) => {
      onStarted = resolve;
      child.once('exit', () => reject(this.fatal ?? this.crashError('the worker exited before it started')));
    });
    this.started.catch(() => {}); // lint-ok: load() awaits and reports it; this only keeps an early crash from being an unhandled rejection
    child.on('message', (raw: unknown) => {
      let m: FromWorker;
      try {
        m = parseFromWorker(raw);
      } catch (err) {
        this.protocolViolation(err as SecaiError);
        return;
      }
      if (m.type === 'ready') onStarted();
      else this.onMessage(m);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      const e = this.fatal ?? this.crashError(`the diffusion worker stopped (${signal ?? `exit ${code}`})`);
      this.failAll(e);
      this.emit('exit', code, signal);
    });
  }

  get pid(): number | undefined {
    return this.w.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  private crashError(message: string): SecaiError {
    const tail = this.stderrTail.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
    return new SecaiError(ErrorCode.WORKER_CRASHED, tail ? `${message}: ${tail}` : message);
  }

  private failAll(e: SecaiError): void {
    this.loadWaiter?.reject(e);
    this.loadWaiter = undefined;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** A message outside the protocol: the worker is broken or hostile. Everything waiting fails and it is killed. */
  private protocolViolation(e: SecaiError): void {
    if (this.exited) return;
    this.protocolError ??= e;
    this.failAll(e);
    this.kill();
  }

  private send(m: ToWorker): void {
    if (this.exited || !this.w.child.connected) throw new SecaiError(ErrorCode.WORKER_CRASHED, 'the diffusion worker is not running');
    this.w.child.send(m);
  }

  private onMessage(m: Exclude<FromWorker, { type: 'ready' }>): void {
    switch (m.type) {
      case 'loaded':
        this.info = m.info;
        this.loadWaiter?.resolve({ ...m.info, ms: m.ms });
        this.loadWaiter = undefined;
        return;
      case 'progress': {
        const p = this.pending.get(m.id);
        if (!p) return;
        // Steps come in order, once each, and never past the count: anything else is a worker that lies.
        if (m.step !== p.step + 1 || m.step > m.steps) {
          this.protocolViolation(new SecaiError(ErrorCode.WORKER_PROTOCOL, `progress step ${m.step} of ${m.steps} after step ${p.step}`));
          return;
        }
        p.step = m.step;
        p.onProgress({ step: m.step, steps: m.steps, ms: m.ms });
        return;
      }
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve({ png: m.png, seed: m.seed, width: m.width, height: m.height, steps: m.steps, ms: m.ms });
        return;
      }
      case 'cancelled': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(new SecaiError(ErrorCode.CANCELLED, 'the generation was cancelled'));
        return;
      }
      case 'failed': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(new SecaiError(m.code, m.message));
        return;
      }
      case 'error': {
        // Not about one generation: a failed load (the worker then exits) or a message it could not read.
        const e = new SecaiError(m.code, m.message);
        if (this.loadWaiter) {
          this.loadWaiter.reject(e);
          this.loadWaiter = undefined;
        }
      }
    }
  }

  /** Loads the pipeline; the worker re-hashes every listed file first. */
  async load(o: DiffusionLoadOptions): Promise<PipelineInfo & { ms: number }> {
    await this.started;
    const timeoutMs = o.timeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new SecaiError(ErrorCode.TIMEOUT, `pipeline load took over ${timeoutMs} ms`)); this.kill(); }, timeoutMs);
      this.loadWaiter = {
        resolve: (i) => { clearTimeout(t); resolve(i); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      try {
        this.send({ type: 'load', modelDir: o.modelDir, files: o.files, threads: o.threads, provider: o.provider });
      } catch (err) {
        this.loadWaiter.reject(err as SecaiError);
      }
    });
  }

  /** One generation; progress per step through onProgress; settles with the PNG or a coded error (CANCELLED on cancel). */
  generate(id: string, input: DiffusionInput, onProgress: (p: DiffusionProgress) => void): Promise<DiffusionResult> {
    return new Promise<DiffusionResult>((resolve, reject) => {
      this.pending.set(id, { onProgress, resolve, reject, step: 0 });
      try {
        this.send({ type: 'generate', id, ...input });
      } catch (err) {
        this.pending.delete(id);
        reject(err as SecaiError);
      }
    });
  }

  cancel(id: string): void {
    if (this.alive && this.w.child.connected) this.w.child.send({ type: 'cancel', id } satisfies ToWorker);
  }

  /** Why the actor killed it, if it did (the worker host fails the running job with it). */
  get exitError(): SecaiError | undefined {
    return this.fatal;
  }

  /** Kills the worker for a reason: what waits on it fails with that error, not as a crash. */
  terminate(e: SecaiError): void {
    this.fatal ??= e;
    this.kill();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.w.child.kill(signal);
  }

  /** Asks the worker to release its sessions and exit, then kills it if it lingers. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.once('exit', () => r()));
    try { this.send({ type: 'unload' }); } catch { /* lint-ok: already gone */ }
    const t = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }
}
