// The inference actor's served ops, as a function of its model host (shared by main.ts and the integration tests).
import type { HandlersFor } from '../../bus/service.js';
import type { inferenceManifest } from './manifest.js';
import type { ModelHost } from './models.js';
import { suspendedError } from '../../runtime/unload-removed.js';
import { serveGenerate } from './serve-generate.js';

const SHA = /^[0-9a-f]{64}$/;

/**
 * The bytes a model reference means: a SHA-256 as given, or the SHA-256 of every loaded model and registry entry of
 * that name (`registryShas`; the registry may be unreachable: what is loaded still answers).
 */
async function shasOf(host: ModelHost, model: string, registryShas?: (name: string) => Promise<string[]>): Promise<Set<string>> {
  const out = new Set<string>(SHA.test(model) ? [model] : []);
  for (const m of host.list()) if (m.name === model.replace(/\.gguf$/i, '')) out.add(m.sha256);
  for (const sha of await registryShas?.(model).catch(() => []) ?? []) out.add(sha);
  return out;
}

export function inferenceOps(host: () => ModelHost, registryShas?: (name: string) => Promise<string[]>): HandlersFor<typeof inferenceManifest.serves> {
  return {
    // Served to the incident actor alone (ACL, `callers`).
    evict: async (req) => host().evict(await shasOf(host(), req.model, registryShas), suspendedError(req.incidentId, req.reason)),
    models: async () => ({ models: host().list(), available: await host().availableNotLoaded() }),
    status: () => host().status(),
    generate: (req, call) => serveGenerate(host(), req, call),
    cancel: (req: { requestId: string }) => ({ cancelled: host().cancel(req.requestId) }),
    end_session: (req: { client: string }) => ({ restarted: host().endSession(req.client) }),
  };
}

export function inferenceCommands(host: () => ModelHost): HandlersFor<typeof inferenceManifest.commands> {
  return {
    load: (req: { name: string }) => host().load(req.name),
    unload: async (req: { name: string }) => ({ unloaded: await host().unload(req.name) }),
  };
}
