// Appliance-level routes: health and status.
import { sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';

export function systemRoutes(d: GatewayDeps): Route[] {
  return [
    { method: 'GET', path: '/api/health', access: 'public', handler: ({ res }) => sendJson(res, 200, { ok: true }) },
    { method: 'GET', path: '/api/status', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.request('supervisor', 'status')) },
  ];
}
