// The inference actor's kind of worker: an llm worker per loaded model (runtime/worker-host supervises it), with the
// GPU the policy asks for checked against the backend the worker really got.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { LlmWorker, type GenerateInput, type GenerateResult } from '../../workers/llm/client.js';
import { gpuDeviceNodes } from '../../workers/sandbox.js';
import type { InferenceSection } from '../../policy/sections.js';
import { WorkerHost, type WorkerHostOptions, type WorkerKind } from '../../runtime/worker-host.js';

export type { ModelResolver } from '../../runtime/worker-host.js';

/** What the workers need of policy.yaml `inference` (stage 6's `behavioral` block is the quarantine's). */
export type InferencePolicy = Omit<InferenceSection, 'behavioral'>;

export interface ModelHostOptions extends WorkerHostOptions {
  readonly policy: InferencePolicy;
  /** The worker script and its arguments (default: the llm worker); adversarial tests substitute a lying one. */
  worker?: { entry: string; args?: readonly string[] };
}

/** A registry name carries no `.gguf` (the quarantine strips it); clients may type it either way. */
const modelKey = (name: string): string => name.replace(/\.gguf$/i, '');

function llmKind(o: ModelHostOptions): WorkerKind<GenerateInput, GenerateResult, string> {
  const log: Logger = o.log;
  return {
    label: 'llm worker',
    section: 'inference',
    key: modelKey,
    prepare: (input) => (input.maxTokens > o.policy.max_tokens ? { ...input, maxTokens: o.policy.max_tokens } : input),
    isCancelled: (r) => r.finishReason === 'cancelled',
    start: async (model, attach) => {
      const w = new LlmWorker({ readOnly: [model.path], allowUnsandboxed: o.policy.allow_unsandboxed, ...(o.bwrapPath && { bwrapPath: o.bwrapPath }), ...o.worker });
      attach(w);
      const info = await w.load({ modelPath: model.path, sha256: model.sha256, contextSize: o.policy.context_size, ...(o.policy.threads > 0 && { threads: o.policy.threads }), gpu: o.policy.gpu === 'off' ? false : 'auto' });
      // The backend the worker really got, not the one asked for: a GPU that never reached the sandbox is a CPU run.
      if (o.policy.gpu !== 'off' && !info.gpu) {
        const visible = gpuDeviceNodes();
        if (o.policy.gpu === 'required') {
          throw new SecaiError(ErrorCode.GPU_UNAVAILABLE, `policy inference.gpu is required, but the worker found no GPU backend (device nodes on the host: ${visible.join(', ') || 'none'})`);
        }
        if (visible.length) log.warn({ model: model.name, devices: visible }, 'GPU devices exist on this host, but the worker runs on the CPU');
      }
      return { ...info, sandboxed: w.sandboxed } as Record<string, unknown>;
    },
  };
}

/** The inference actor's models: llm workers under the shared host. */
export class ModelHost extends WorkerHost<GenerateInput, GenerateResult, string> {
  constructor(o: ModelHostOptions) {
    super(o, llmKind(o));
  }
}
