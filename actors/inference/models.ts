// The inference actor's effects: one supervised, sandboxed llm worker per loaded model, fed by its worker machine.
import { randomUUID } from 'node:crypto';
import { createActor, fromPromise, waitFor, type ActorRefFrom } from 'xstate';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { workerMachine, type WorkerModel } from '../../machines/worker/worker.machine.js';
import { LlmWorker, type GenerateInput, type GenerateResult } from '../../workers/llm/client.js';
import { gpuDeviceNodes, probeSandbox } from '../../workers/sandbox.js';
import type { InferenceSection } from '../../policy/sections.js';
import type { ModelInfo } from './manifest.js';

/** What the workers need of policy.yaml `inference` (stage 6's `behavioral` block is the quarantine's). */
export type InferencePolicy = Omit<InferenceSection, 'behavioral'>;

/** Where a promoted model lives and the SHA-256 its signed registry manifest records. */
export type ModelResolver = (name: string) => Promise<WorkerModel>;

export interface ModelHostOptions {
  resolve: ModelResolver;
  policy: InferencePolicy;
  log: Logger;
  /** Audit events (model_loaded, model_refused, ...): never chat text. Never rejects: a failure is logged and counted (`ctx.emitOrLog`). */
  emit: (event: string, payload: Record<string, unknown>) => Promise<unknown>;
  onChange?: () => void;
  bwrapPath?: string;
  /** Names of the promoted models a client may ask for (listed beside the loaded ones). */
  available?: () => Promise<string[]>;
  /** The worker script and its arguments (default: the llm worker); adversarial tests substitute a lying one. */
  worker?: { entry: string; args?: readonly string[] };
}

interface Pending {
  input: GenerateInput;
  onToken: (text: string) => void;
  resolve: (r: GenerateResult) => void;
  reject: (e: SecaiError) => void;
}

class LoadedModel {
  worker: LlmWorker | undefined;
  readonly pending = new Map<string, Pending>();
  readonly actor: ActorRefFrom<typeof workerMachine>;

  constructor(readonly model: WorkerModel, o: ModelHostOptions) {
    const machine = workerMachine.provide({
      actors: {
        startWorker: fromPromise(async ({ input }) => {
          const w = new LlmWorker({ readOnly: [input.model.path], allowUnsandboxed: o.policy.allow_unsandboxed, ...(o.bwrapPath && { bwrapPath: o.bwrapPath }), ...o.worker });
          this.worker = w;
          w.on('exit', (code, signal) => {
            if (this.worker !== w) return;
            o.log.warn({ model: model.name, code, signal }, 'llm worker exited');
            this.actor.send({ type: 'worker.exited', code, signal });
          });
          try {
            const info = await w.load({ modelPath: input.model.path, sha256: input.model.sha256, contextSize: o.policy.context_size, ...(o.policy.threads > 0 && { threads: o.policy.threads }), gpu: o.policy.gpu === 'off' ? false : 'auto' });
            // The backend the worker really got, not the one asked for: a GPU that never reached the sandbox is a CPU run.
            if (o.policy.gpu !== 'off' && !info.gpu) {
              const visible = gpuDeviceNodes();
              if (o.policy.gpu === 'required') {
                throw new SecaiError(ErrorCode.GPU_UNAVAILABLE, `policy inference.gpu is required, but the worker found no GPU backend (device nodes on the host: ${visible.join(', ') || 'none'})`);
              }
              if (visible.length) o.log.warn({ model: model.name, devices: visible }, 'GPU devices exist on this host, but the worker runs on the CPU');
            }
            return { ...info, sandboxed: w.sandboxed } as Record<string, unknown>;
          } catch (err) {
            if (this.worker === w) this.worker = undefined;
            w.kill();
            throw err;
          }
        }),
        stopWorker: fromPromise(async () => {
          const w = this.worker;
          this.worker = undefined;
          await w?.stop(1000);
        }),
      },
      actions: {
        dispatch: (_, p) => this.dispatch(p.id),
        cancelRunning: (_, p) => { if (p.id) this.worker?.cancel(p.id); },
        rejectRequests: (_, p) => {
          for (const id of p.ids) {
            const q = this.pending.get(id);
            this.pending.delete(id);
            q?.reject(new SecaiError(p.code, p.message));
          }
        },
        reportLoaded: ({ context }) => {
          // The context of this transition (the snapshot is not committed yet while actions run).
          const info = context.info ?? {};
          void o.emit('model_loaded', {
            name: model.name, sha256: model.sha256, sandboxed: Boolean(info['sandboxed']), gpu: info['gpu'] ?? false,
            threads: Number(info['threads'] ?? 0), loadMs: Number(info['loadMs'] ?? 0),
          });
          o.onChange?.();
        },
        reportFailed: (_, p) => {
          const event = p.code === ErrorCode.DIGEST_MISMATCH || p.code === ErrorCode.MODEL_INVALID ? 'model_refused' : 'worker_crashed';
          void o.emit(event, { name: model.name, code: p.code, reason: p.message.slice(0, 1024) });
          o.onChange?.();
        },
      },
    });
    this.actor = createActor(machine, {
      input: { restartOnSessionEnd: o.policy.restart_on_session_end },
    });
  }

  private dispatch(id: string): void {
    const p = this.pending.get(id);
    const w = this.worker;
    if (!p || !w) {
      queueMicrotask(() => this.actor.send({ type: 'request.finished', id }));
      return;
    }
    w.generate(id, p.input, p.onToken).then(
      (r) => {
        this.pending.delete(id);
        p.resolve(r);
        this.actor.send({ type: 'request.finished', id });
      },
      (err: SecaiError) => {
        // A crash is the machine's to handle (worker.exited); any other error ends just this request.
        if (err.code === ErrorCode.WORKER_CRASHED && !w.alive) return;
        this.pending.delete(id);
        p.reject(err);
        this.actor.send({ type: 'request.finished', id });
      },
    );
  }
}

/** A registry name carries no `.gguf` (the quarantine strips it); clients may type it either way. */
function modelKey(name: string): string {
  return name.replace(/\.gguf$/i, '');
}

export class ModelHost {
  private readonly models = new Map<string, LoadedModel>();
  /** Loads in progress, so that concurrent first requests start one worker. */
  private readonly loading = new Map<string, Promise<ModelInfo>>();
  /** Models loaded on demand, with their idle timers; explicitly loaded ones stay until unloaded. */
  private readonly idle = new Map<string, NodeJS.Timeout | undefined>();
  /** How generations ended, for status (no content). */
  readonly stats = { completed: 0, cancelled: 0, failed: 0 };

  constructor(private readonly o: ModelHostOptions) {}

  /** Loads a promoted model (resolved through the registry) into a fresh sandboxed worker. */
  async load(requested: string, o: { onDemand?: boolean } = {}): Promise<ModelInfo> {
    const name = modelKey(requested);
    // An explicit load pins the model: no idle unload; an on-demand load does not unpin it.
    if (!o.onDemand) this.unwatchIdle(name);
    const inFlight = this.loading.get(name);
    if (inFlight) {
      // An explicit load that joins an on-demand one still pins the model once it is loaded.
      const loaded = await inFlight;
      if (!o.onDemand) this.unwatchIdle(name);
      return loaded;
    }
    const run = this.loadOnce(name, o.onDemand === true).finally(() => this.loading.delete(name));
    this.loading.set(name, run);
    return run;
  }

  private async loadOnce(name: string, onDemand: boolean): Promise<ModelInfo> {
    const existing = this.models.get(name);
    if (existing) {
      const s = existing.actor.getSnapshot();
      if (s.matches('ready') || s.matches('busy')) return this.describe(existing);
      await this.unload(name);
    }
    const model = await this.o.resolve(name);
    const m = new LoadedModel(model, this.o);
    this.models.set(name, m);
    m.actor.start();
    m.actor.send({ type: 'worker.load', model });
    const snap = await waitFor(m.actor, (s) => s.matches('ready') || s.matches('busy') || s.matches('failed'), { timeout: 300_000 });
    if (snap.matches('failed')) {
      this.models.delete(name);
      m.actor.stop();
      const e = snap.context.error ?? { code: ErrorCode.WORKER_CRASHED, message: 'the worker failed' };
      throw new SecaiError(e.code, `model ${name}: ${e.message}`);
    }
    if (onDemand && !this.idle.has(name)) this.idle.set(name, undefined);
    return this.describe(m);
  }

  private unwatchIdle(name: string): void {
    clearTimeout(this.idle.get(name));
    this.idle.delete(name);
  }

  /** After an on-demand model's last request: unload it once keep_alive_minutes pass with no new one. */
  private armIdle(name: string): void {
    if (!this.idle.has(name) || this.models.get(name)?.pending.size) return;
    clearTimeout(this.idle.get(name));
    const timer = setTimeout(() => {
      this.idle.delete(name);
      if (this.models.get(name)?.pending.size) return;
      void this.unload(name, `idle for ${this.o.policy.keep_alive_minutes} min (inference.keep_alive_minutes)`).catch(() => false);
    }, this.o.policy.keep_alive_minutes * 60_000);
    timer.unref();
    this.idle.set(name, timer);
  }

  async unload(name: string, reason?: string): Promise<boolean> {
    this.unwatchIdle(name);
    const m = this.models.get(name);
    if (!m) return false;
    m.actor.send({ type: 'worker.unload' });
    await waitFor(m.actor, (s) => s.matches('idle') || s.matches('failed'), { timeout: 30_000 })
      .catch((err: unknown) => this.o.log.warn({ name, err: (err as Error).message }, 'worker did not unload in time; killing it'));
    m.worker?.kill();
    m.actor.stop();
    this.models.delete(name);
    await this.o.emit('model_unloaded', { name, ...(reason && { reason }) });
    this.o.onChange?.();
    return true;
  }

  /**
   * Incident containment: every loaded model whose bytes are `sha256` stops at once. Its generations (running and
   * queued) end now with `error` rather than a quiet `cancelled`, then its worker is unloaded. Returns the names
   * unloaded and how many generations were cut.
   */
  async evict(sha256s: ReadonlySet<string>, error: SecaiError): Promise<{ evicted: string[]; cancelled: number }> {
    const hit = [...this.models.entries()].filter(([, m]) => sha256s.has(m.model.sha256));
    let cancelled = 0;
    for (const [, m] of hit) {
      for (const [id, p] of m.pending) {
        m.pending.delete(id);
        const reject = p.reject;
        // The worker's own answer (a cancelled end) may still come: it finds nothing to settle.
        p.resolve = () => undefined;
        p.reject = () => undefined;
        reject(error);
        cancelled++;
      }
    }
    await Promise.all(hit.map(([name]) => this.unload(name, error.message.slice(0, 256))));
    return { evicted: hit.map(([name]) => name), cancelled };
  }

  /** Queues a generation; tokens go to onToken; settles with the result or a coded error. */
  async generate(requested: string, input: GenerateInput, onToken: (text: string) => void, o: { client?: string; requestId?: string } = {}): Promise<GenerateResult> {
    const model = modelKey(requested);
    if (!this.models.has(model) && this.o.policy.load_on_demand) await this.load(model, { onDemand: true });
    const m = this.models.get(model);
    if (!m) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, `model '${model}' is not loaded`);
    const idle = this.idle.get(model);
    if (idle) { clearTimeout(idle); this.idle.set(model, undefined); }
    if (input.maxTokens > this.o.policy.max_tokens) input = { ...input, maxTokens: this.o.policy.max_tokens };
    const id = o.requestId ?? randomUUID();
    if (this.owner(id)) return Promise.reject(new SecaiError(ErrorCode.INVALID_STATE, 'request id already in use'));
    return new Promise<GenerateResult>((resolve, reject) => {
      m.pending.set(id, {
        input, onToken,
        resolve: (r) => { this.stats[r.finishReason === 'cancelled' ? 'cancelled' : 'completed']++; resolve(r); queueMicrotask(() => this.armIdle(model)); },
        reject: (e) => { this.stats[e.code === ErrorCode.CANCELLED ? 'cancelled' : 'failed']++; reject(e); queueMicrotask(() => this.armIdle(model)); },
      });
      m.actor.send({ type: 'request.enqueue', request: { id, client: o.client ?? 'anonymous' } });
    });
  }

  private owner(id: string): LoadedModel | undefined {
    for (const m of this.models.values()) if (m.pending.has(id)) return m;
    return undefined;
  }

  cancel(requestId: string): boolean {
    const m = this.owner(requestId);
    if (!m) return false;
    m.actor.send({ type: 'request.cancel', id: requestId });
    return true;
  }

  endSession(client: string): number {
    let n = 0;
    for (const m of this.models.values()) {
      if (!this.o.policy.restart_on_session_end) break;
      m.actor.send({ type: 'session.end', client });
      n++;
    }
    return n;
  }

  private describe(m: LoadedModel): ModelInfo {
    const s = m.actor.getSnapshot();
    const info = s.context.info;
    return {
      name: m.model.name, state: typeof s.value === 'string' ? s.value : JSON.stringify(s.value), sha256: m.model.sha256,
      sandboxed: info ? Boolean(info['sandboxed']) : true, info: info ? { ...info, pid: m.worker?.pid ?? null } : null, error: s.context.error, queued: s.context.queue.length + (s.context.current ? 1 : 0),
    };
  }

  list(): ModelInfo[] {
    return [...this.models.values()].map((m) => this.describe(m));
  }

  /** Promoted models not loaded now: with load_on_demand a client may ask for them by name. */
  async availableNotLoaded(): Promise<string[]> {
    if (!this.o.policy.load_on_demand || !this.o.available) return [];
    return (await this.o.available()).filter((n) => !this.models.has(n));
  }

  /** Status, with the unsandboxed development mode said loudly. */
  status(): Record<string, unknown> {
    const probe = probeSandbox(this.o.bwrapPath);
    const models = this.list();
    const unsandboxed = models.filter((m) => m['sandboxed'] === false).map((m) => m['name']);
    return {
      sandbox: { available: probe.ok, reason: probe.reason, allowUnsandboxed: this.o.policy.allow_unsandboxed },
      warning: unsandboxed.length
        ? `WARNING: UNSANDBOXED DEVELOPMENT MODE: ${unsandboxed.join(', ')} run WITHOUT bubblewrap (network and files reachable)`
        : !probe.ok && this.o.policy.allow_unsandboxed ? 'WARNING: bubblewrap is unavailable and policy allows UNSANDBOXED workers' : null,
      models,
      stats: { ...this.stats },
    };
  }

  get sandboxAvailable(): boolean {
    return probeSandbox(this.o.bwrapPath).ok;
  }

  get counts(): { loaded: number; unsandboxed: number } {
    const models = this.list();
    return { loaded: models.length, unsandboxed: models.filter((m) => m['sandboxed'] === false).length };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.models.keys()].map((n) => this.unload(n).catch(() => false)));
  }
}
