// Inference actor process: promoted models in sandboxed workers, streamed generation on the bus.
import { SecaiError, ErrorCode } from '../../common/errors.js';
import { inferenceMachine } from '../../machines/inference/inference.machine.js';
import { loadConfig } from '../../policy/load.js';
import { main } from '../../runtime/host.js';
import { inferenceManifest } from './manifest.js';
import { ModelHost, type InferencePolicy } from './models.js';
import { inferenceCommands, inferenceOps } from './ops.js';
import { unloadRemovedModels } from './on-removed.js';
import { registryResolver } from './resolve.js';

let host: ModelHost | undefined;

main({
  manifest: inferenceManifest,
  machine: () => inferenceMachine,
  publicContext: (c) => ({ loaded: c.loaded, unsandboxed: c.unsandboxed, sandboxAvailable: c.sandboxAvailable }),
  start: (ctx) => {
    const policy = (loadConfig(ctx.configDir, 'policy').value as { inference: InferencePolicy }).inference;
    // Without bubblewrap and without the development switch, workers refuse to start: still sealed.
    const changed = () => ({ type: 'models.changed' as const, ...host!.counts, sandboxAvailable: host!.sandboxAvailable || !policy.allow_unsandboxed });
    host = new ModelHost({
      resolve: registryResolver(ctx.bus),
      policy,
      log: ctx.log,
      emit: (event, payload) => ctx.emit(event, payload),
      onChange: () => ctx.actor.send(changed()),
      // Single-file models are what a worker loads (folders are diffusers pipelines).
      available: async () => (await ctx.bus.request<{ models: { name: string; kind: string }[] }>('registry', 'list')).models.filter((m) => m.kind === 'file').map((m) => m.name),
    });
    const st = host.status();
    if (st['warning']) ctx.log.warn(String(st['warning']));
    ctx.actor.send(changed());
    unloadRemovedModels(ctx.bus, () => host, ctx.log);
  },
  ops: () => inferenceOps(need),
  commands: () => inferenceCommands(need),
  stop: async () => {
    await host?.stopAll();
  },
});

function need(): ModelHost {
  if (!host) throw new SecaiError(ErrorCode.NOT_READY, 'inference is starting');
  return host;
}
