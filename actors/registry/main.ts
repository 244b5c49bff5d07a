// Registry actor process: promotes scanned artifacts (quarantine only), serves and verifies the signed manifest.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { registryMachine } from '../../machines/registry/registry.machine.js';
import type { CallContext } from '../../bus/service.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { registryManifest } from './manifest.js';
import { Registry, type PromoteRequest } from './store.js';

let registry: Registry;
type Ctx = ActorContext<typeof registryMachine>;

/** Every read checks the manifest signature; a failure moves the actor to `tampered` for good. */
async function guarded<T>(ctx: Ctx, body: () => Promise<T>): Promise<T> {
  if (ctx.actor.getSnapshot().matches('tampered')) throw new SecaiError(ErrorCode.REGISTRY_TAMPERED, `registry manifest failed verification: ${ctx.actor.getSnapshot().context.reason}`);
  try {
    return await body();
  } catch (err) {
    if ((err as SecaiError).code === ErrorCode.REGISTRY_TAMPERED) {
      ctx.actor.send({ type: 'registry.tampered', reason: (err as Error).message });
      ctx.log.error({ err: (err as Error).message }, 'registry manifest TAMPERED');
    }
    throw err;
  }
}

async function verifyAll(ctx: Ctx, name: string | undefined) {
  const names = name ? [name] : (await registry.entries()).map((e) => e.name);
  const results = [];
  for (const n of names) {
    const r = await registry.verify(n);
    if (!r.ok) await ctx.emit('verify_failed', r).catch(() => {});
    results.push(r);
  }
  return results;
}

/** Who asked for a removal, as the `removed` event records it (never a secret: a key id or a session handle). */
type RemovedBy = { by: 'operator'; keyId: string } | { by: 'web session'; session: string };

/** The one removal path: the signed `rm` command and the auth actor's `remove` (re-authenticated web session). */
async function removeModel(ctx: Ctx, name: string, who: RemovedBy) {
  return guarded(ctx, async () => {
    const e = await registry.rm(name);
    ctx.actor.send({ type: 'registry.changed', models: (await registry.entries()).length, change: `removed ${e.name}` });
    await ctx.emit('removed', { name: e.name, sha256: e.sha256, ...who });
    return e;
  });
}

main<typeof registryMachine>({
  manifest: registryManifest,
  machine: async (ctx) => {
    registry = await Registry.open({ dir: ctx.paths.registry, keyPath: ctx.paths.applianceKey, quarantineWork: ctx.paths.quarantineWork });
    return registryMachine;
  },
  publicContext: (c) => ({ models: c.models, lastChange: c.lastChange, reason: c.reason }),
  start: async (ctx) => {
    ctx.actor.send({ type: 'registry.changed', models: (await registry.entries()).length, change: 'opened' });
  },
  ops: (ctx) => ({
    promote: (req: PromoteRequest) => guarded(ctx, async () => {
      const entry = await registry.promote(req);
      ctx.actor.send({ type: 'registry.changed', models: (await registry.entries()).length, change: `promoted ${entry.name}` });
      await ctx.emit('promoted', entry);
      return entry;
    }),
    list: () => guarded(ctx, async () => ({ models: await registry.entries() })),
    get: (req: { name: string }) => guarded(ctx, async () => { const entry = await registry.get(req.name); return { entry, path: registry.pathOf(entry) }; }),
    verify: (req: { name: string }) => guarded(ctx, async () => (await verifyAll(ctx, req.name))[0]!),
    // Served to the auth actor alone (ACL); auth has checked the session and the passphrase.
    remove: (req: { name: string; session: string }) => removeModel(ctx, req.name, { by: 'web session', session: req.session }),
  }),
  commands: (ctx) => ({
    list: () => guarded(ctx, async () => ({ models: await registry.entries() })),
    get: (req: { name: string }) => guarded(ctx, async () => { const entry = await registry.get(req.name); return { entry, path: registry.pathOf(entry) }; }),
    verify: (req: { name?: string }) => guarded(ctx, async () => ({ results: await verifyAll(ctx, req.name) })),
    rm: (req: { name: string }, call: CallContext) => removeModel(ctx, req.name, { by: 'operator', keyId: call.operator?.keyId ?? 'unknown' }),
  }),
});
