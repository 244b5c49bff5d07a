// The parent's side of one llm worker: spawn it sandboxed, load a model, stream generations, notice its death.
import { EventEmitter } from 'node:events';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { inferenceThreads } from '../cpu.js';
import type { ChatMessage, FinishReason, FromWorker, GenerateParams, ToWorker, Usage, WorkerInfo } from '../protocol.js';
import { spawnWorker, type SandboxedWorker, type SandboxOptions } from '../sandbox.js';

export interface LoadOptions {
  modelPath: string;
  sha256: string;
  contextSize?: number;
  threads?: number;
  gpu?: 'auto' | false;
  /** Abandon a load that takes longer (a worker stuck in native code is killed). */
  timeoutMs?: number;
}

export type GenerateInput = ({ mode: 'chat'; messages: ChatMessage[] } | { mode: 'completion'; prompt: string }) & GenerateParams;

export interface GenerateResult {
  finishReason: FinishReason;
  usage: Usage;
  firstTokenMs: number;
  totalMs: number;
}

interface Pending {
  onToken: (text: string) => void;
  resolve: (r: GenerateResult) => void;
  reject: (e: SecaiError) => void;
}

export class LlmWorker extends EventEmitter<{ exit: [code: number | null, signal: string | null] }> {
  readonly sandboxed: boolean;
  info: WorkerInfo | undefined;
  private readonly w: SandboxedWorker;
  private readonly pending = new Map<string, Pending>();
  private exited = false;
  private stderrTail = '';
  private started: Promise<void>;
  private loadWaiter: { resolve: (i: WorkerInfo) => void; reject: (e: SecaiError) => void } | undefined;

  constructor(o: SandboxOptions = {}) {
    super();
    this.w = spawnWorker(o);
    this.sandboxed = this.w.sandboxed;
    const child = this.w.child;
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-2000); });
    this.started = new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker) => { if (m.type === 'started') { child.off('message', onMsg); resolve(); } };
      child.on('message', onMsg);
      child.once('exit', () => reject(this.crashError('the worker exited before it started')));
    });
    this.started.catch(() => {});
    child.on('message', (m: FromWorker) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      this.exited = true;
      const e = this.crashError(`the model worker stopped (${signal ?? `exit ${code}`})`);
      this.loadWaiter?.reject(e);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.emit('exit', code, signal);
    });
  }

  get pid(): number | undefined {
    return this.w.child.pid;
  }

  get argv(): readonly string[] {
    return this.w.argv;
  }

  get alive(): boolean {
    return !this.exited;
  }

  private crashError(message: string): SecaiError {
    const tail = this.stderrTail.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
    return new SecaiError(ErrorCode.WORKER_CRASHED, tail ? `${message}: ${tail}` : message);
  }

  private send(m: ToWorker): void {
    if (this.exited || !this.w.child.connected) throw new SecaiError(ErrorCode.WORKER_CRASHED, 'the model worker is not running');
    this.w.child.send(m);
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'loaded':
        this.info = m.info;
        this.loadWaiter?.resolve(m.info);
        this.loadWaiter = undefined;
        return;
      case 'token':
        this.pending.get(m.id)?.onToken(m.text);
        return;
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve({ finishReason: m.finishReason, usage: m.usage, firstTokenMs: m.firstTokenMs, totalMs: m.totalMs });
        return;
      }
      case 'error': {
        const e = new SecaiError(m.error.code, m.error.message);
        if (m.id === undefined) {
          this.loadWaiter?.reject(e);
          this.loadWaiter = undefined;
          return;
        }
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(e);
      }
    }
  }

  /** Loads the model; the worker re-verifies the hash and the hyperparameters first. */
  async load(o: LoadOptions): Promise<WorkerInfo> {
    await this.started;
    const timeoutMs = o.timeoutMs ?? 120_000;
    return new Promise<WorkerInfo>((resolve, reject) => {
      const t = setTimeout(() => { reject(new SecaiError(ErrorCode.TIMEOUT, `model load took over ${timeoutMs} ms`)); this.kill(); }, timeoutMs);
      this.loadWaiter = {
        resolve: (i) => { clearTimeout(t); resolve(i); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      try {
        this.send({
          type: 'load', modelPath: o.modelPath, sha256: o.sha256, threads: o.threads ?? inferenceThreads(),
          contextSize: o.contextSize ?? 2048, gpu: o.gpu ?? 'auto',
        });
      } catch (err) {
        this.loadWaiter.reject(err as SecaiError);
      }
    });
  }

  /** Generates; tokens arrive through onToken; settles once with the result or a coded error. */
  generate(id: string, input: GenerateInput, onToken: (text: string) => void): Promise<GenerateResult> {
    return new Promise<GenerateResult>((resolve, reject) => {
      this.pending.set(id, { onToken, resolve, reject });
      try {
        this.send({ type: 'generate', id, ...input } as ToWorker);
      } catch (err) {
        this.pending.delete(id);
        reject(err as SecaiError);
      }
    });
  }

  cancel(id: string): void {
    if (this.alive && this.w.child.connected) this.w.child.send({ type: 'cancel', id } satisfies ToWorker);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.w.child.kill(signal);
  }

  /** Asks the worker to exit, then kills it if it lingers. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.once('exit', () => r()));
    try { this.send({ type: 'shutdown' }); } catch { /* already gone */ }
    const t = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }
}
