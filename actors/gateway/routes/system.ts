// Appliance-level routes: health (a real aggregate from the supervisor) and status.
import { serveOp } from '../../../bus/op-ref.js';
import { supervisorManifest } from '../../../runtime/catalog.js';
import { sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import type { SecaiError } from '../../../common/errors.js';

/** /api/health waits this long for the supervisor: a health probe must answer even when the bus does not. */
const HEALTH_DEADLINE_MS = 2000;

interface Health { ok: boolean; state: string; reasons: string[]; storage: { state: string; freeMb: number; minFreeMb: number } }

export function systemRoutes(d: GatewayDeps): Route[] {
  return [
    {
      method: 'GET', path: '/api/health', access: 'public',
      // 503 with the reasons when an actor is unresponsive or failed, the bus hangs or storage is low (a load balancer or
      // the owner's monitor reads the status; the reasons name actors and states only, nothing from their data).
      handler: async ({ res }) => {
        let h: Health;
        try {
          h = await d.bus.request<Health>('supervisor', 'health', {}, HEALTH_DEADLINE_MS);
        } catch (err) {
          h = { ok: false, state: 'degraded', reasons: [`the supervisor did not answer (${(err as SecaiError).code ?? 'error'})`], storage: { state: 'ok', freeMb: 0, minFreeMb: 0 } };
        }
        sendJson(res, h.ok ? 200 : 503, { ok: h.ok, state: h.state, reasons: h.reasons, storage: h.storage.state });
      },
    },
    { method: 'GET', path: '/api/status', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(supervisorManifest, 'status'), {})) },
  ];
}
