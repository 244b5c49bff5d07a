// Diffusion actor process: wiring. The host of pipeline workers it makes at start lives in its machine's context.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { diffusionMachine } from '../../machines/diffusion/diffusion.machine.js';
import { attestationGate } from '../../runtime/attestation-gate.js';
import { configSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { unloadRemovedModels } from '../../runtime/unload-removed.js';
import { WorkerHost } from '../../runtime/worker-host.js';
import { diffusionKind, type DiffusionHostOptions } from './kind.js';
import { diffusionManifest } from './manifest.js';
import { diffusionCommands, diffusionOps, type DiffusionHost } from './ops.js';
import { pipelineResolver, promotedPipelines } from './resolve.js';

type Ctx = ActorContext<typeof diffusionMachine>;

const hostOf = (ctx: Ctx) => ctx.actor.getSnapshot().context.host as DiffusionHost | null;

function need(ctx: Ctx): DiffusionHost {
  const host = hostOf(ctx);
  if (!host) throw new SecaiError(ErrorCode.NOT_READY, 'diffusion is starting');
  return host;
}

main<typeof diffusionMachine, typeof diffusionManifest>({
  manifest: diffusionManifest,
  machine: () => diffusionMachine,
  publicContext: (c) => ({ loaded: c.loaded, unsandboxed: c.unsandboxed, sandboxAvailable: c.sandboxAvailable }),
  start: async (ctx) => {
    // policy.yaml `diffusion`, read on each use: a reload applies to the next request and the next worker start.
    const changed = (host: DiffusionHost) => ({ type: 'models.changed' as const, ...host.counts, sandboxAvailable: host.sandboxAvailable || !section.value.allow_unsandboxed });
    const section = await configSection(ctx, 'diffusion', () => {
      const host = hostOf(ctx);
      if (host) ctx.actor.send(changed(host));
    });
    // A pipeline is loaded only into an attested runtime (docs/attestation.md), and only from the registry.
    const gate = attestationGate(ctx.bus, ctx.log);
    const resolve = pipelineResolver(ctx.bus);
    const options: DiffusionHostOptions = {
      resolve: async (name) => { const model = await resolve(name); await gate.require(`loading pipeline ${name}`); return model; },
      get policy() { return section.value; },
      log: ctx.log,
      emit: (event, payload) => ctx.emitOrLog(event, payload),
      onChange: () => ctx.actor.send(changed(host)),
      available: () => promotedPipelines(ctx.bus),
    };
    const host: DiffusionHost = new WorkerHost(options, diffusionKind(options));
    ctx.actor.send({ type: 'host.started', host });
    const st = host.status();
    if (st['warning']) ctx.log.warn(String(st['warning']));
    ctx.actor.send(changed(host));
    unloadRemovedModels(ctx.bus, () => hostOf(ctx) ?? undefined, ctx.log);
  },
  ops: (ctx) => diffusionOps(() => need(ctx), (event, payload) => ctx.emitOrLog(event, payload)),
  commands: (ctx) => diffusionCommands(() => need(ctx)),
  stop: async (ctx) => {
    await hostOf(ctx)?.stopAll();
  },
});
