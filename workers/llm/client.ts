// The parent's side of one llm worker: spawn it sandboxed, load a model, stream generations, notice its death.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { inferenceThreads } from '../cpu.js';
import { parseFromWorker, type BatchItem, type BatchItemResult, type ChatMessage, type FinishReason, type FromWorker, type GenerateParams, type ToWorker, type Usage, type WorkerInfo } from '../protocol.js';
import type { SandboxOptions } from '../sandbox.js';
import { take, WorkerProcess, type WorkerReply, type WorkerSpec } from '../worker-process.js';

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

/** The ids a batch asks for; a malformed batch (items not a list) asks for none and is answered BAD_MESSAGE. */
function itemIds(input: BatchInput): Set<string> {
  const items: unknown = input.items;
  return new Set(Array.isArray(items) ? items.map((i: { id?: unknown }) => String(i?.id)) : []);
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

type LlmProtocol = { from: FromWorker; to: ToWorker; started: 'started'; loaded: WorkerInfo };

const LLM_WORKER: WorkerSpec<LlmProtocol> = {
  label: 'model worker',
  loads: 'model',
  started: 'started',
  parse: parseFromWorker,
  cancel: (id) => ({ type: 'cancel', id }),
  stop: { type: 'shutdown' },
};

export class LlmWorker extends WorkerProcess<LlmProtocol> {
  info: WorkerInfo | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly batches = new Map<string, PendingBatch>();

  constructor(o: SandboxOptions = {}) {
    super(LLM_WORKER, o);
  }

  // Batches wait too: on a violation they fail now with it, not later with the kill's exit (or with whatever the
  // rest of the worker's messages make of a batch that lost its items).
  protected override failRequests(e: SecaiError): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const b of this.batches.values()) b.reject(e);
    this.batches.clear();
  }

  protected override onMessage(m: WorkerReply<LlmProtocol>): void {
    switch (m.type) {
      case 'loaded':
        this.info = m.info;
        this.loaded(m.info);
        return;
      case 'token':
        this.pending.get(m.id)?.onToken(m.text);
        return;
      case 'done':
        take(this.pending, m.id)?.resolve({ finishReason: m.finishReason, usage: m.usage, firstTokenMs: m.firstTokenMs, totalMs: m.totalMs });
        return;
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
          this.failLoad(e);
          return;
        }
        take(this.pending, m.id)?.reject(e);
        take(this.batches, m.id)?.reject(e);
      }
    }
  }

  /** Loads the model; the worker re-verifies the hash and the hyperparameters first. */
  async load(o: LoadOptions): Promise<WorkerInfo> {
    return this.loadWith({
      type: 'load', modelPath: o.modelPath, sha256: o.sha256, threads: o.threads ?? inferenceThreads(),
      contextSize: o.contextSize ?? 2048, gpu: o.gpu ?? 'auto', ...(o.sequences !== undefined && { sequences: o.sequences }),
    }, o.timeoutMs ?? 120_000);
  }

  /** Generates; tokens arrive through onToken; settles once with the result or a coded error. */
  generate(id: string, input: GenerateInput, onToken: (text: string) => void): Promise<GenerateResult> {
    return this.request(this.pending, id, (resolve, reject) => ({ onToken, resolve, reject }), { type: 'generate', id, ...input } as ToWorker);
  }

  /**
   * Runs every item over the context's parallel sequences (greedy at temperature 0); `onItem` gets each result as
   * it finishes. Settles once: with the summary when every item was answered, or with a coded error (a malformed
   * batch is answered BAD_MESSAGE under its id; a dead worker WORKER_CRASHED).
   */
  batch(id: string, input: BatchInput, onItem: (r: BatchItemResult) => void): Promise<BatchSummary> {
    return this.request(this.batches, id, (resolve, reject) => ({ open: itemIds(input), onItem, resolve, reject }), { type: 'batch', id, ...input });
  }

  private failBatch(id: string, message: string): void {
    const b = take(this.batches, id);
    this.cancel(id);
    b?.reject(new SecaiError(ErrorCode.BAD_MESSAGE, message));
  }
}
