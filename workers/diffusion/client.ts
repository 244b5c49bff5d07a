// The parent's side of one diffusion worker: spawn it sandboxed, load a pipeline folder, run generations with
// progress, notice its death. Everything the worker says is checked first: it parses model files and images.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { DIFFUSION_WORKER_ENTRY, type SandboxOptions } from '../sandbox.js';
import { take, WorkerProcess, type WorkerReply, type WorkerSpec } from '../worker-process.js';
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

type DiffusionProtocol = { from: FromWorker; to: ToWorker; started: 'ready'; loaded: PipelineInfo & { ms: number } };

const DIFFUSION_WORKER: WorkerSpec<DiffusionProtocol> = {
  label: 'diffusion worker',
  loads: 'pipeline',
  started: 'ready',
  parse: parseFromWorker,
  cancel: (id) => ({ type: 'cancel', id }),
  // Releases its sessions, then exits.
  stop: { type: 'unload' },
};

export class DiffusionWorker extends WorkerProcess<DiffusionProtocol> {
  info: PipelineInfo | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(o: SandboxOptions = {}) {
    super(DIFFUSION_WORKER, { entry: DIFFUSION_WORKER_ENTRY, ...o });
  }

  protected override failRequests(e: SecaiError): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  protected override onMessage(m: WorkerReply<DiffusionProtocol>): void {
    switch (m.type) {
      case 'loaded':
        this.info = m.info;
        this.loaded({ ...m.info, ms: m.ms });
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
      case 'done':
        take(this.pending, m.id)?.resolve({ png: m.png, seed: m.seed, width: m.width, height: m.height, steps: m.steps, ms: m.ms });
        return;
      case 'cancelled':
        take(this.pending, m.id)?.reject(new SecaiError(ErrorCode.CANCELLED, 'the generation was cancelled'));
        return;
      case 'failed':
        take(this.pending, m.id)?.reject(new SecaiError(m.code, m.message));
        return;
      case 'error':
        // Not about one generation: a failed load (the worker then exits) or a message it could not read.
        this.failLoad(new SecaiError(m.code, m.message));
    }
  }

  /** Loads the pipeline; the worker re-hashes every listed file first. */
  async load(o: DiffusionLoadOptions): Promise<PipelineInfo & { ms: number }> {
    return this.loadWith({ type: 'load', modelDir: o.modelDir, files: o.files, threads: o.threads, provider: o.provider }, o.timeoutMs ?? 120_000);
  }

  /** One generation; progress per step through onProgress; settles with the PNG or a coded error (CANCELLED on cancel). */
  generate(id: string, input: DiffusionInput, onProgress: (p: DiffusionProgress) => void): Promise<DiffusionResult> {
    return this.request(this.pending, id, (resolve, reject) => ({ onProgress, resolve, reject, step: 0 }), { type: 'generate', id, ...input });
  }
}
