// The diffusion actor's kind of worker: a sandboxed onnxruntime worker per loaded pipeline folder (runtime/worker-host
// supervises it). Before a worker exists the folder is hashed here against the registry's signed digest; the worker
// hashes every file again inside the sandbox. A worker whose process tree outgrows policy's memory limit is killed.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { folderDigest, folderFiles } from '../../common/hash-file.js';
import type { Logger } from '../../common/log.js';
import { treeRssBytes } from '../../common/proc-tree.js';
import type { DiffusionSection } from '../../policy/sections.js';
import type { HostPolicy, WorkerHostOptions, WorkerKind } from '../../runtime/worker-host.js';
import { DiffusionWorker, type DiffusionInput, type DiffusionProgress, type DiffusionResult } from '../../workers/diffusion/client.js';
import type { Provider } from '../../workers/diffusion/protocol.js';
import { gpuDeviceNodes } from '../../workers/sandbox.js';

export interface DiffusionHostOptions extends WorkerHostOptions {
  readonly policy: DiffusionSection & HostPolicy;
  /** How often the memory limit is checked (ms). */
  memoryCheckMs?: number;
}

/** Requests are checked against policy before they queue: the worker's own bounds are wider. */
export function checkAgainstPolicy(input: DiffusionInput, p: DiffusionSection): DiffusionInput {
  if (input.width > p.max_side || input.height > p.max_side) {
    throw new SecaiError(ErrorCode.SCHEMA, `${input.width}×${input.height} is larger than diffusion.max_side ${p.max_side}`);
  }
  if (input.width % 8 || input.height % 8) throw new SecaiError(ErrorCode.SCHEMA, 'width and height must be multiples of 8');
  if (input.steps > p.max_steps) throw new SecaiError(ErrorCode.SCHEMA, `${input.steps} steps is more than diffusion.max_steps ${p.max_steps}`);
  if (input.strength !== undefined && input.initImage === undefined) throw new SecaiError(ErrorCode.SCHEMA, 'strength needs an init image');
  return input;
}

export function diffusionKind(o: DiffusionHostOptions): WorkerKind<DiffusionInput, DiffusionResult, DiffusionProgress> {
  const log: Logger = o.log;
  const watch = (w: DiffusionWorker): void => {
    const limit = o.policy.memory_limit_mb * 1024 * 1024;
    const timer = setInterval(() => {
      const pid = w.pid;
      if (!pid || !w.alive) return;
      const rss = treeRssBytes(pid);
      if (rss > limit) {
        log.warn({ pid, rss, limit }, 'diffusion worker over its memory limit: killed');
        w.terminate(new SecaiError(ErrorCode.WORKER_MEMORY, `the diffusion worker used ${Math.round(rss / 1048576)} MiB, over diffusion.memory_limit_mb ${o.policy.memory_limit_mb}`));
      }
    }, o.memoryCheckMs ?? 250);
    timer.unref();
    w.once('exit', () => clearInterval(timer));
  };
  const startOne = async (dir: string, files: { rel: string; sha256: string }[], provider: Provider, attach: (w: DiffusionWorker) => void) => {
    const w = new DiffusionWorker({ readOnly: [dir], allowUnsandboxed: o.policy.allow_unsandboxed, ...(o.bwrapPath && { bwrapPath: o.bwrapPath }) });
    attach(w);
    watch(w);
    const info = await w.load({ modelDir: dir, files, threads: o.policy.threads, provider });
    return { ...info, loadMs: info.ms, gpu: info.provider === 'cuda', sandboxed: w.sandboxed } as Record<string, unknown>;
  };
  return {
    label: 'diffusion worker',
    section: 'diffusion',
    key: (name) => name,
    prepare: (input) => checkAgainstPolicy(input, o.policy),
    isCancelled: () => false,
    start: async (model, attach) => {
      // The registry's digest is over every regular file's path and hash: anything added, changed or linked is refused.
      const files = await folderFiles(model.path).catch((err: Error) => {
        throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `cannot read the pipeline folder: ${err.message}`);
      });
      const digest = folderDigest(files);
      if (digest !== model.sha256) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `pipeline folder changed since promotion: sha256 ${digest} != ${model.sha256}`);
      const want = o.policy.provider;
      if (want === 'cpu' || (want === 'auto' && !gpuDeviceNodes().length)) return startOne(model.path, files, 'cpu', attach);
      try {
        return await startOne(model.path, files, 'cuda', attach);
      } catch (err) {
        if (want === 'cuda' || (err as SecaiError).code !== ErrorCode.GPU_UNAVAILABLE) throw err;
        log.warn({ model: model.name, err: (err as Error).message }, 'GPU devices exist on this host, but the diffusion worker has no CUDA provider: it runs on the CPU');
        return startOne(model.path, files, 'cpu', attach);
      }
    },
  };
}
