// The inference actor's served ops, as a function of its model host (shared by main.ts and the integration tests).
import type { Handlers } from '../../bus/service.js';
import type { ModelHost } from './models.js';
import { serveGenerate } from './serve-generate.js';

export function inferenceOps(host: () => ModelHost): Handlers {
  return {
    models: async () => ({ models: host().list(), available: await host().availableNotLoaded() }),
    status: () => host().status(),
    generate: (req, call) => serveGenerate(host(), req, call),
    cancel: (req: { requestId: string }) => ({ cancelled: host().cancel(req.requestId) }),
    end_session: (req: { client: string }) => ({ restarted: host().endSession(req.client) }),
  };
}

export function inferenceCommands(host: () => ModelHost): Handlers {
  return {
    load: (req: { name: string }) => host().load(req.name),
    unload: async (req: { name: string }) => ({ unloaded: await host().unload(req.name) }),
  };
}
