// The parent's side of one llm worker: spawn it sandboxed, load a model, stream generations, notice its death.
import { EventEmitter } from 'node:events';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { inferenceThreads } from '../cpu.js';
import { parseFromWorker, type BatchItem, type BatchItemResult, type ChatMessage, type FinishReason, type FromWorker, type GenerateParams, type ToWorker, type Usage, type WorkerInfo } from '../protocol.js';
import { spawnWorker, type SandboxedWorker, type SandboxOptions } from '../sandbox.js';

export interface LoadOptions {
  modelPath: string;
  sha256: string;
  contextSize?: number;
  threads?: number;
  gpu?: 'auto' | false;
  /** Parallel sequences of the context (for batch); contextSize is per sequence. */
  sequences?: number;
  /** Abandon a load that takes longer (a worker stuck in native code is killed). */
  timeoutMs?: number;
}

export interface BatchInput {
  items: BatchItem[];
  temperature: number;
  seed?: number;
}

export interface BatchSummary {
  sequences: number;
  totalMs: number;
}

interface PendingBatch {
  /** Item ids not answered yet: an answer for anything else, or twice, is a worker that lies. */
  open: Set<string>;
  onItem: (r: BatchItemResult) => void;
  resolve: (r: BatchSummary) => void;
  reject: (e: SecaiError) => void;
}

const FINISH = new Set<unknown>(['stop', 'length', 'cancelled']);
const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isItemResult = (m: Record<string, unknown>): boolean => typeof m.item === 'string' && typeof m.text === 'string' && FINISH.has(m.finishReason)
  && typeof m.stoppedEarly === 'boolean' && typeof m.totalMs === 'number' && !!m.usage && typeof m.usage === 'object'
  && count((m.usage as Usage).promptTokens) && count((m.usage as Usage).completionTokens);

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
  private readonly batches = new Map<string, PendingBatch>();
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
    let onStarted: () => void = () => {};
    this.started = new Promise((resolve, reject) => {
      onStarted = resolve;
      child.once('exit', () => reject(this.crashError('the worker exited before it started')));
    });
    this.started.catch(() => {}); // lint-ok: load() awaits and reports it; this only keeps an early crash from being an unhandled rejection
    // Everything the worker says is checked first: it runs model code and is not trusted.
    child.on('message', (raw: unknown) => {
      let m: FromWorker;
      try {
        m = parseFromWorker(raw);
      } catch (err) {
        this.protocolViolation(err as SecaiError);
        return;
      }
      if (m.type === 'started') onStarted();
      else this.onMessage(m);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      const e = this.crashError(`the model worker stopped (${signal ?? `exit ${code}`})`);
      this.loadWaiter?.reject(e);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      for (const b of this.batches.values()) b.reject(e);
      this.batches.clear();
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

  /**
   * A message outside the protocol: the worker is broken or hostile, and nothing it says can be matched to
   * a request any more. Every waiting request and batch fails with SECAI_E_WORKER_PROTOCOL and the worker is killed
   * (its exit is then seen as any crash is); the actor itself goes on.
   */
  private protocolViolation(e: SecaiError): void {
    if (this.exited) return;
    this.protocolError ??= e;
    this.loadWaiter?.reject(e);
    this.loadWaiter = undefined;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    // Batches wait too: failed now with the violation, not later with the kill's exit (or, when the rest of the
    // worker's messages are read first, with whatever they make of a batch that lost its items).
    for (const b of this.batches.values()) b.reject(e);
    this.batches.clear();
    this.kill();
  }

  /** The first protocol violation, if any (the worker has been killed for it). */
  protocolError: SecaiError | undefined;

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
      case 'item': {
        const b = this.batches.get(m.id);
        if (!b) return;
        if (!isItemResult(m as unknown as Record<string, unknown>) || !b.open.delete(m.item)) {
          this.failBatch(m.id, 'the worker answered a batch item it was not asked for, twice, or malformed');
          return;
        }
        b.onItem({ item: m.item, text: m.text, finishReason: m.finishReason, stoppedEarly: m.stoppedEarly, usage: m.usage, totalMs: m.totalMs });
        return;
      }
      case 'batch-done': {
        const b = this.batches.get(m.id);
        if (!b) return;
        if (b.open.size) {
          this.failBatch(m.id, `the worker ended the batch with ${b.open.size} items unanswered`);
          return;
        }
        this.batches.delete(m.id);
        b.resolve({ sequences: Number(m.sequences), totalMs: Number(m.totalMs) });
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
        const b = this.batches.get(m.id);
        this.batches.delete(m.id);
        b?.reject(e);
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
          contextSize: o.contextSize ?? 2048, gpu: o.gpu ?? 'auto', ...(o.sequences !== undefined && { sequences: o.sequences }),
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

  /**
   * Runs every item over the context's parallel sequences (greedy at temperature 0); `onItem` gets each result as
   * it finishes. Settles once: with the summary when every item was answered, or with a coded error (a malformed
   * batch is answered BAD_MESSAGE under its id; a dead worker WORKER_CRASHED).
   */
  batch(id: string, input: BatchInput, onItem: (r: BatchItemResult) => void): Promise<BatchSummary> {
    return new Promise<BatchSummary>((resolve, reject) => {
      const items: unknown = input.items;
      const open = new Set(Array.isArray(items) ? items.map((i: { id?: unknown }) => String(i?.id)) : []);
      this.batches.set(id, { open, onItem, resolve, reject });
      try {
        this.send({ type: 'batch', id, ...input });
      } catch (err) {
        this.batches.delete(id);
        reject(err as SecaiError);
      }
    });
  }

  private failBatch(id: string, message: string): void {
    const b = this.batches.get(id);
    this.batches.delete(id);
    this.cancel(id);
    b?.reject(new SecaiError(ErrorCode.BAD_MESSAGE, message));
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
    try { this.send({ type: 'shutdown' }); } catch { /* lint-ok: already gone */ }
    const t = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }
}
