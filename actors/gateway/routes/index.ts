// Every HTTP route of the gateway, grouped by feature; each group is a function of the gateway's deps.
import type { Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { systemRoutes } from './system.js';
import { authRoutes } from './auth.js';
import { vaultRoutes } from './vault.js';
import { MAX_STREAMS, MAX_STREAMS_PER_SESSION, observeRoutes } from './observe.js';
import { securityRoutes } from './security.js';
import { mcpRoutes } from './mcp.js';
import { agentRoutes } from './agent.js';
import { StreamSlots } from '../stream-slots.js';
import { modelsRoutes } from './models.js';
import { modelImportRoutes } from './model-imports.js';
import { chatRoutes } from './chats.js';
import { uiRoutes } from './ui.js';
import { openaiRoutes } from './openai.js';
import { ollamaRoutes } from './ollama.js';
import { gallery, galleryRoutes } from './gallery.js';
import { imageRoutes } from './images.js';

export function allRoutes(deps: GatewayDeps): Route[] {
  // One set of event-stream slots for every SSE route: the caps hold for all of them together.
  const slots = new StreamSlots(MAX_STREAMS, MAX_STREAMS_PER_SESSION);
  const images = gallery(deps);
  return [...systemRoutes(deps), ...authRoutes(deps), ...vaultRoutes(deps), ...observeRoutes(deps, slots), ...securityRoutes(deps, slots), ...mcpRoutes(deps), ...agentRoutes(deps), ...modelsRoutes(deps), ...modelImportRoutes(deps), ...chatRoutes(deps), ...openaiRoutes(deps), ...ollamaRoutes(deps),
    ...imageRoutes(deps, slots, images), ...galleryRoutes(deps, images), ...uiRoutes()];
}
