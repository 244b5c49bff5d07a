// Every HTTP route of the gateway, grouped by feature; each group is a function of the gateway's deps.
import type { Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { systemRoutes } from './system.js';
import { authRoutes } from './auth.js';
import { vaultRoutes } from './vault.js';
import { observeRoutes } from './observe.js';
import { modelsRoutes } from './models.js';
import { modelImportRoutes } from './model-imports.js';
import { chatRoutes } from './chats.js';
import { uiRoutes } from './ui.js';
import { openaiRoutes } from './openai.js';
import { ollamaRoutes } from './ollama.js';

export function allRoutes(deps: GatewayDeps): Route[] {
  return [...systemRoutes(deps), ...authRoutes(deps), ...vaultRoutes(deps), ...observeRoutes(deps), ...modelsRoutes(deps), ...modelImportRoutes(deps), ...chatRoutes(deps), ...openaiRoutes(deps), ...ollamaRoutes(deps), ...uiRoutes()];
}
