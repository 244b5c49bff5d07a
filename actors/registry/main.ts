// Registry actor process: wiring. Lifecycle, write queue and the tampered verdict live in machines/registry; the store's work is its effects.
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import { registryMachine, type RegistryRead, type RegistryReadInput, type RemovedBy, type Suspensions, type WriteResult } from '../../machines/registry/registry.machine.js';
import type { CallContext } from '../../bus/service.js';
import { applianceKey, type ApplianceKey } from '../../common/appliance-key.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { registryManifest } from './manifest.js';
import { readManifest, Registry, type PromoteRequest, type RegistryEntry, type VerifyResult } from './store.js';
import { suspend, suspensionOf, unsuspend, type MarkDeps } from './suspend.js';
import { openSuspensions, suspensionsAnchorPath, type SuspensionFiles } from './suspensions.js';

type Ctx = ActorContext<typeof registryMachine>;
/** A promotion copies and a verify re-hashes whole models: the manifest allows them 600 s. */
const LONG_MS = 600_000;

/** The machine with its effects over the store (opened, and its signature checked, before the machine starts). */
function provideRegistry(store: Registry, key: ApplianceKey, ctx: Pick<Ctx, 'emit' | 'emitOrLog' | 'log' | 'paths'>): typeof registryMachine {
  const marks: MarkDeps = { store, key, files: suspensionFiles(ctx), emit: (event, payload) => ctx.emitOrLog(event, payload) };
  const verify = async (name?: string) => {
    const names = name ? [name] : (await store.entries()).map((e) => e.name);
    const results: VerifyResult[] = [];
    for (const n of names) {
      const r = await store.verify(n);
      if (!r.ok) await ctx.emitOrLog('verify_failed', r);
      results.push(r);
    }
    return results;
  };
  const listed = (e: RegistryEntry, s: Suspensions) => {
    const suspended = suspensionOf(s, e.sha256);
    return { ...e, ...(suspended && { suspended }) };
  };
  const read = async (r: RegistryReadInput): Promise<unknown> => {
    switch (r.kind) {
      case 'list': return { models: (await store.entries()).map((e) => listed(e, r.suspensions)) };
      case 'get': {
        const entry = listed(await store.get(r.name), r.suspensions);
        // The load path: a suspended model's path is not handed out (inference cannot load what it cannot find).
        if (r.load && entry.suspended) {
          throw new SecaiError(ErrorCode.MODEL_SUSPENDED, `model '${entry.name}' is suspended by ${entry.suspended.by === 'unknown' ? 'an untrusted suspension record' : `incident ${entry.suspended.by}`}: ${entry.suspended.reason} (an operator clears it: securectl models unsuspend ${entry.name})`.slice(0, 1024));
        }
        return { entry, path: store.pathOf(entry) };
      }
      case 'verify': return verify(r.name);
    }
  };
  return registryMachine.provide({
    actors: {
      count: fromPromise(async () => (await store.entries()).length),
      promote: fromPromise(async ({ input }): Promise<WriteResult> => {
        const entry = await store.promote(input as unknown as PromoteRequest);
        const models = (await store.entries()).length;
        await ctx.emit('promoted', entry);
        return { entry: entry as unknown as WriteResult['entry'], models };
      }),
      remove: fromPromise(async ({ input }): Promise<WriteResult> => {
        const e = await store.rm(input.name);
        const models = (await store.entries()).length;
        await ctx.emit('removed', { name: e.name, sha256: e.sha256, ...input.who });
        return { entry: e as unknown as WriteResult['entry'], models };
      }),
      read: fromPromise(({ input }) => read(input)),
      suspend: fromPromise(({ input }) => suspend(marks, input.suspensions, input)),
      unsuspend: fromPromise(({ input }) => unsuspend(marks, input.suspensions, input)),
    },
    actions: {
      reportTampered: ({ context }) => ctx.log.error({ reason: context.reason }, 'registry manifest TAMPERED'),
    },
  });
}

const suspensionFiles = (ctx: Pick<Ctx, 'paths'>): SuspensionFiles => ({ registryDir: ctx.paths.registry, anchor: suspensionsAnchorPath(ctx.paths.keys) });

/** The suspension record at start: a model suspended before a restart stays suspended; an untrusted record suspends every model. */
async function openSuspensionRecord(ctx: Pick<Ctx, 'paths' | 'log'>): Promise<Suspensions> {
  const key = await applianceKey(ctx.paths.applianceKey);
  // A manifest that does not verify stops the machine at open (tampered): no model is served whatever this says.
  const models = await readManifest(join(ctx.paths.registry, 'manifest.json'), key.publicKey).then((m) => m.entries.length, () => 0);
  const s = await openSuspensions(suspensionFiles(ctx), key, models);
  if (s.untrusted) ctx.log.error({ reason: s.untrusted }, 'registry suspension record UNTRUSTED: every model is suspended until an operator clears it');
  else if (s.records.length) ctx.log.warn({ suspended: s.records.map((r) => r.names.join(',') || r.sha256) }, 'suspended models (securectl models unsuspend clears one)');
  return s;
}

const readOp = <T>(ctx: Ctx, read: RegistryRead) => ask<T>(ctx.actor, { type: 'registry.read', read }, read.kind === 'verify' ? LONG_MS : 60_000);
const remove = (ctx: Ctx, name: string, who: RemovedBy) => ask<RegistryEntry>(ctx.actor, { type: 'registry.remove', name, who }, 60_000);

main<typeof registryMachine, typeof registryManifest>({
  manifest: registryManifest,
  machine: async (ctx) => {
    const registry = await Registry.open({ dir: ctx.paths.registry, keyPath: ctx.paths.applianceKey, quarantineWork: ctx.paths.quarantineWork });
    if (registry.leftovers.length) ctx.log.warn({ removed: registry.leftovers }, 'removed what an interrupted promotion or removal left behind (the signed manifest does not name it)');
    return provideRegistry(registry, await applianceKey(ctx.paths.applianceKey), ctx);
  },
  // The signed suspension record, read before the machine starts: a model suspended before a restart stays suspended.
  input: async (ctx) => ({ suspensions: await openSuspensionRecord(ctx) }),
  publicContext: (c) => ({
    models: c.models, lastChange: c.lastChange, reason: c.reason,
    suspended: c.suspensions.records.map((r) => ({ sha256: r.sha256, names: r.names, by: r.by })), suspensionsUntrusted: c.suspensions.untrusted,
  }),
  ops: (ctx) => ({
    // Only the quarantine actor may ask (ACL).
    promote: (req: PromoteRequest) => ask<RegistryEntry>(ctx.actor, { type: 'registry.promote', promote: { ...req } }, LONG_MS),
    list: () => readOp(ctx, { kind: 'list' }),
    get: (req: { name: string }) => readOp(ctx, { kind: 'get', name: req.name, load: true }),
    verify: async (req: { name: string }) => (await readOp<VerifyResult[]>(ctx, { kind: 'verify', name: req.name }))[0]!,
    // Served to the incident actor alone (ACL, `callers`).
    suspend: (req: { model: string; incidentId: string; reason: string }) => ask(ctx.actor, { type: 'registry.suspend', ...req }, 60_000),
    // Served to the auth actor alone (ACL); auth has checked the session and the passphrase.
    remove: (req: { name: string; session: string }) => remove(ctx, req.name, { by: 'web session', session: req.session }),
  }),
  commands: (ctx) => ({
    list: () => readOp(ctx, { kind: 'list' }),
    get: (req: { name: string }) => readOp(ctx, { kind: 'get', name: req.name }),
    verify: async (req: { name?: string }) => ({ results: await readOp<VerifyResult[]>(ctx, { kind: 'verify', ...(req.name !== undefined && { name: req.name }) }) }),
    rm: (req: { name: string }, call: CallContext) => remove(ctx, req.name, { by: 'operator', keyId: call.operator?.keyId ?? 'unknown' }),
    unsuspend: (req: { model: string }, call: CallContext) => ask(ctx.actor, { type: 'registry.unsuspend', model: req.model, keyId: call.operator?.keyId ?? 'unknown' }, 60_000),
  }),
});
