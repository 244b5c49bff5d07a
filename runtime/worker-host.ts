// One supervised, sandboxed worker per loaded model, fed by its worker machine (machines/worker): loads through the
// registry, on-demand loads with idle unload, a fair queue, restarts, eviction. The kind of worker (llm, diffusion)
// is what an actor provides: how to start and load one, and what its jobs and results are.
import { randomUUID } from 'node:crypto';
import { createActor, fromPromise, waitFor, type ActorRefFrom } from 'xstate';
import { ErrorCode, SecaiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { workerMachine, type WorkerModel } from '../machines/worker/worker.machine.js';
import { probeSandbox } from '../workers/sandbox.js';

/** What the host needs of a worker process (LlmWorker and DiffusionWorker are ones). */
export interface HostedWorker<I, R, P> {
  readonly sandboxed: boolean;
  readonly alive: boolean;
  readonly pid: number | undefined;
  /** Set when the actor killed it for a reason (a memory limit): what its running job fails with. */
  readonly exitError?: SecaiError | undefined;
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
  /** One job; its parts (tokens, progress) go to onPart as they come; settles with the result or a coded error. */
  generate(id: string, input: I, onPart: (part: P) => void): Promise<R>;
  cancel(id: string): void;
  kill(): void;
  stop(graceMs?: number): Promise<void>;
}

/** A kind of worker, as an actor provides it. */
export interface WorkerKind<I, R, P> {
  /** For logs and messages: 'llm worker'. */
  label: string;
  /** The policy section its keys come from (for messages): 'inference'. */
  section: string;
  /**
   * Starts a worker for the model and loads it; `attach` is called with the worker as soon as it exists (so its
   * exit is watched while loading). Resolves with what the worker reported (with `sandboxed`); throws coded errors.
   */
  start(model: WorkerModel, attach: (w: HostedWorker<I, R, P>) => void): Promise<Record<string, unknown>>;
  /** The registry name a client's name means (`.gguf` is dropped for language models). */
  key(name: string): string;
  /** The input as policy allows it now (a token cap, a size cap); may throw a coded error. */
  prepare(input: I): I;
  /** Whether a result is a job that was cancelled (for the counts in status). */
  isCancelled(result: R): boolean;
}

/** The policy keys the host reads on every use (a reload applies to the next request and the next worker start). */
export interface HostPolicy {
  allow_unsandboxed: boolean;
  restart_on_session_end: boolean;
  load_on_demand: boolean;
  keep_alive_minutes: number;
}

/** Where a promoted model lives and the SHA-256 its signed registry manifest records. */
export type ModelResolver = (name: string) => Promise<WorkerModel>;

export interface WorkerHostOptions {
  resolve: ModelResolver;
  readonly policy: HostPolicy;
  log: Logger;
  /** Audit events (model_loaded, model_refused, ...): never prompts. Never rejects: a failure is logged and counted (`ctx.emitOrLog`). */
  emit: (event: string, payload: Record<string, unknown>) => Promise<unknown>;
  onChange?: () => void;
  bwrapPath?: string;
  /** Names of the promoted models a client may ask for (listed beside the loaded ones). */
  available?: () => Promise<string[]>;
}

/** One loaded model as `models` and `status` list it. */
export interface HostedModelInfo {
  name: string;
  state: string;
  sha256: string;
  sandboxed: boolean;
  info: unknown;
  error: unknown;
  queued: number;
}

interface Pending<I, R, P> {
  input: I;
  onPart: (part: P) => void;
  resolve: (r: R) => void;
  reject: (e: SecaiError) => void;
}

class LoadedModel<I, R, P> {
  worker: HostedWorker<I, R, P> | undefined;
  readonly pending = new Map<string, Pending<I, R, P>>();
  readonly actor: ActorRefFrom<typeof workerMachine>;

  constructor(readonly model: WorkerModel, o: WorkerHostOptions, kind: WorkerKind<I, R, P>) {
    const machine = workerMachine.provide({
      actors: {
        startWorker: fromPromise(async ({ input }) => {
          let started: HostedWorker<I, R, P> | undefined;
          try {
            return await kind.start(input.model, (w) => {
              started = w;
              this.worker = w;
              w.on('exit', (code, signal) => {
                if (this.worker !== w) return;
                o.log.warn({ model: model.name, code, signal }, `${kind.label} exited`);
                this.actor.send({ type: 'worker.exited', code, signal, ...(w.exitError && { error: w.exitError.toData() }) });
              });
            });
          } catch (err) {
            if (started && this.worker === started) this.worker = undefined;
            started?.kill();
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
    w.generate(id, p.input, p.onPart).then(
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

export class WorkerHost<I, R, P> {
  private readonly models = new Map<string, LoadedModel<I, R, P>>();
  /** Loads in progress, so that concurrent first requests start one worker. */
  private readonly loading = new Map<string, Promise<HostedModelInfo>>();
  /** Models loaded on demand, with their idle timers; explicitly loaded ones stay until unloaded. */
  private readonly idle = new Map<string, NodeJS.Timeout | undefined>();
  /** How jobs ended, for status (no content). */
  readonly stats = { completed: 0, cancelled: 0, failed: 0 };

  constructor(private readonly o: WorkerHostOptions, private readonly kind: WorkerKind<I, R, P>) {}

  /** Loads a promoted model (resolved through the registry) into a fresh sandboxed worker. */
  async load(requested: string, o: { onDemand?: boolean } = {}): Promise<HostedModelInfo> {
    const name = this.kind.key(requested);
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

  private async loadOnce(name: string, onDemand: boolean): Promise<HostedModelInfo> {
    const existing = this.models.get(name);
    if (existing) {
      const s = existing.actor.getSnapshot();
      if (s.matches('ready') || s.matches('busy')) return this.describe(existing);
      await this.unload(name);
    }
    const model = await this.o.resolve(name);
    const m = new LoadedModel(model, this.o, this.kind);
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
      void this.unload(name, `idle for ${this.o.policy.keep_alive_minutes} min (${this.kind.section}.keep_alive_minutes)`).catch(() => false);
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
   * Incident containment: every loaded model whose bytes are `sha256` stops at once. Its jobs (running and queued)
   * end now with `error` rather than a quiet `cancelled`, then its worker is unloaded. Returns the names unloaded and
   * how many jobs were cut.
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

  /** Queues a job; its parts go to onPart; settles with the result or a coded error. */
  async generate(requested: string, input: I, onPart: (part: P) => void, o: { client?: string; requestId?: string } = {}): Promise<R> {
    const model = this.kind.key(requested);
    input = this.kind.prepare(input);
    if (!this.models.has(model) && this.o.policy.load_on_demand) await this.load(model, { onDemand: true });
    const m = this.models.get(model);
    if (!m) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, `model '${model}' is not loaded`);
    const idle = this.idle.get(model);
    if (idle) { clearTimeout(idle); this.idle.set(model, undefined); }
    const id = o.requestId ?? randomUUID();
    if (this.owner(id)) return Promise.reject(new SecaiError(ErrorCode.INVALID_STATE, 'request id already in use'));
    return new Promise<R>((resolve, reject) => {
      m.pending.set(id, {
        input, onPart,
        resolve: (r) => { this.stats[this.kind.isCancelled(r) ? 'cancelled' : 'completed']++; resolve(r); queueMicrotask(() => this.armIdle(model)); },
        reject: (e) => { this.stats[e.code === ErrorCode.CANCELLED ? 'cancelled' : 'failed']++; reject(e); queueMicrotask(() => this.armIdle(model)); },
      });
      m.actor.send({ type: 'request.enqueue', request: { id, client: o.client ?? 'anonymous' } });
    });
  }

  private owner(id: string): LoadedModel<I, R, P> | undefined {
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

  private describe(m: LoadedModel<I, R, P>): HostedModelInfo {
    const s = m.actor.getSnapshot();
    const info = s.context.info;
    return {
      name: m.model.name, state: typeof s.value === 'string' ? s.value : JSON.stringify(s.value), sha256: m.model.sha256,
      sandboxed: info ? Boolean(info['sandboxed']) : true, info: info ? { ...info, pid: m.worker?.pid ?? null } : null, error: s.context.error, queued: s.context.queue.length + (s.context.current ? 1 : 0),
    };
  }

  list(): HostedModelInfo[] {
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
    const unsandboxed = models.filter((m) => !m.sandboxed).map((m) => m.name);
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
    return { loaded: models.length, unsandboxed: models.filter((m) => !m.sandboxed).length };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.models.keys()].map((n) => this.unload(n).catch(() => false)));
  }
}
