// Inference actor process: wiring. The model host it makes at start and the sealed/unsandboxed verdict live in machines/inference.
import { SecaiError, ErrorCode } from '../../common/errors.js';
import { inferenceMachine } from '../../machines/inference/inference.machine.js';
import { configSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { inferenceManifest } from './manifest.js';
import { ModelHost } from './models.js';
import { inferenceCommands, inferenceOps } from './ops.js';
import { unloadRemovedModels } from '../../runtime/unload-removed.js';
import { registryResolver } from './resolve.js';
import { attestationGate } from '../../runtime/attestation-gate.js';
import { serveOp } from '../../bus/op-ref.js';
import { registryManifest } from '../../runtime/catalog.js';

type Ctx = ActorContext<typeof inferenceMachine>;

const hostOf = (ctx: Ctx) => ctx.actor.getSnapshot().context.host as ModelHost | null;

function need(ctx: Ctx): ModelHost {
  const host = hostOf(ctx);
  if (!host) throw new SecaiError(ErrorCode.NOT_READY, 'inference is starting');
  return host;
}

main<typeof inferenceMachine, typeof inferenceManifest>({
  manifest: inferenceManifest,
  machine: () => inferenceMachine,
  publicContext: (c) => ({ loaded: c.loaded, unsandboxed: c.unsandboxed, sandboxAvailable: c.sandboxAvailable }),
  start: async (ctx) => {
    // policy.yaml `inference` from the policy actor. ModelHost reads it on each use, so a reload applies to the next
    // request (max_tokens, load_on_demand, keep_alive) and the next worker start (threads, context_size, gpu, sandbox).
    // Without bubblewrap and without the development switch, workers refuse to start: still sealed.
    const changed = (host: ModelHost) => ({ type: 'models.changed' as const, ...host.counts, sandboxAvailable: host.sandboxAvailable || !section.value.allow_unsandboxed });
    const section = await configSection(ctx, 'inference', () => {
      const host = hostOf(ctx);
      if (host) ctx.actor.send(changed(host));
    });
    // A model is loaded (explicitly or on demand) only into an attested runtime (docs/attestation.md).
    const gate = attestationGate(ctx.bus, ctx.log);
    const resolveModel = registryResolver(ctx.bus);
    const host: ModelHost = new ModelHost({
      // The registry first: a suspended (or unknown) model is refused as such, whatever the attestation says.
      resolve: async (name) => { const model = await resolveModel(name); await gate.require(`loading model ${name}`); return model; },
      get policy() { return section.value; },
      log: ctx.log,
      emit: (event, payload) => ctx.emitOrLog(event, payload),
      onChange: () => ctx.actor.send(changed(host)),
      // Single-file models are what a worker loads (folders are diffusers pipelines).
      available: async () => (await ctx.bus.request<{ models: { name: string; kind: string }[] }>('registry', 'list')).models.filter((m) => m.kind === 'file').map((m) => m.name),
    });
    ctx.actor.send({ type: 'host.started', host });
    const st = host.status();
    if (st['warning']) ctx.log.warn(String(st['warning']));
    ctx.actor.send(changed(host));
    unloadRemovedModels(ctx.bus, () => hostOf(ctx) ?? undefined, ctx.log);
  },
  ops: (ctx) => inferenceOps(() => need(ctx), async (name) => (await ctx.bus.call(serveOp(registryManifest, 'list'), {}, 10_000)).models.filter((m) => m.name === name.replace(/\.gguf$/i, '')).map((m) => m.sha256)),
  commands: (ctx) => inferenceCommands(() => need(ctx)),
  stop: async (ctx) => {
    await hostOf(ctx)?.stopAll();
  },
});
