// The web UI's Security page: incidents (list, one with its timeline, a live stream of transitions), acknowledge and
// resolve with the passphrase again (through auth), and the integrity monitor's and the attestor's state.
import type { IncomingMessage } from 'node:http';
import type { Subscription } from '@nats-io/nats-core';
import { onEvent } from '../../../bus/events.js';
import { serveOp } from '../../../bus/op-ref.js';
import { compile } from '../../../bus/schema.js';
import { incidentId, OPERATOR_ACTS, type OperatorAct } from '../../../contracts/incident-summary.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { attestorManifest, authManifest, incidentManifest, integrityManifest } from '../../../runtime/catalog.js';
import { readJson, sendJson, type Route } from '../http.js';
import { sessionCookie } from '../auth-guard.js';
import { INCIDENT_TRANSITIONS } from '../manifest.js';
import { StreamSlots } from '../stream-slots.js';
import type { GatewayDeps } from '../deps.js';

/** An incident id exactly as the incident actor's schema allows it: anything else is refused before the bus. */
const isIncidentId = compile(incidentId);
const LIST_STATES = ['open', 'contained', 'escalated', 'acknowledged', 'resolved', 'unresolved'] as const;
const HEARTBEAT_MS = 15_000;

function incidentParam(id: string | undefined): string {
  if (!id || !isIncidentId(id)) throw new SecaiError(ErrorCode.USAGE, 'not an incident id');
  return id;
}

function listQuery(url: URL): { state?: (typeof LIST_STATES)[number]; limit?: number } {
  const state = url.searchParams.get('state');
  const limit = url.searchParams.get('limit');
  if (state !== null && !(LIST_STATES as readonly string[]).includes(state)) throw new SecaiError(ErrorCode.USAGE, `state must be one of ${LIST_STATES.join(', ')}`);
  if (limit !== null && (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000)) throw new SecaiError(ErrorCode.USAGE, 'limit must be an integer from 1 to 1000');
  return { ...(state !== null && { state: state as (typeof LIST_STATES)[number] }), ...(limit !== null && { limit: Number(limit) }) };
}

/** `{ passphrase, note? }`: acknowledging or resolving needs the passphrase again (auth.incident_act, throttled like login). */
async function operatorBody(req: IncomingMessage, act: OperatorAct): Promise<{ passphrase: string; note: string }> {
  const b = await readJson<{ passphrase?: unknown; note?: unknown }>(req, 8192);
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'expected a JSON object { passphrase, note }');
  if (typeof b.passphrase !== 'string' || !b.passphrase) throw new SecaiError(ErrorCode.BAD_MESSAGE, `passphrase is required: ${act === 'ack' ? 'acknowledging' : 'resolving'} an incident needs it again`);
  if (b.note !== undefined && (typeof b.note !== 'string' || b.note.length > 1024)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'note must be a string of at most 1024 characters');
  return { passphrase: b.passphrase, note: typeof b.note === 'string' ? b.note : '' };
}

/**
 * `slots`: the gateway's one set of event-stream slots (shared with GET /api/events), so the incident stream counts
 * against the same MAX_STREAMS and MAX_STREAMS_PER_SESSION.
 */
export function securityRoutes(d: GatewayDeps, slots: StreamSlots): Route[] {
  const act = (action: OperatorAct): Route => ({
    method: 'POST', path: `/api/incidents/:id/${action}`, access: 'session',
    handler: async ({ req, res, params }) => {
      const id = incidentParam(params.id);
      const { passphrase, note } = await operatorBody(req, action);
      const sessionId = (sessionCookie(req) ?? '').slice(0, 64);
      sendJson(res, 200, { incident: await d.bus.call(serveOp(authManifest, 'incident_act'), { sessionId, id, action, passphrase, note }, 60_000) });
    },
  });
  return [
    {
      // Server-sent events: `incident` ({ kind, incident, reason, by?, note? }) for every transition the incident actor
      // publishes. Listed before /api/incidents/:id, which would otherwise take `events` for an id.
      method: 'GET', path: '/api/incidents/events', access: 'session',
      handler: async ({ req, res }) => {
        const release = slots.take(sessionCookie(req) ?? 'no-session-cookie');
        const subs: Subscription[] = [];
        let closed = false;
        const send = (event: string, data: unknown) => { if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`); };
        try {
          // Each payload must match the incident actor's declared schema (the ACL lets only it publish there).
          for (const kind of INCIDENT_TRANSITIONS) {
            subs.push(onEvent(d.bus, 'incident', kind, incidentManifest.publishes[kind], d.log, (e) => send('incident', { kind, ...e })));
          }
          // Subscribed on the server before the client is told it is live: a list read after `ready` misses nothing.
          await d.bus.nc.flush();
        } catch (err) {
          for (const s of subs) s.unsubscribe();
          release();
          throw err;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
        res.write(': secai incidents\n\n');
        send('ready', {});
        const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        await new Promise<void>((resolve) => {
          const end = () => {
            if (closed) return;
            closed = true;
            release();
            clearInterval(beat);
            for (const s of subs) s.unsubscribe();
            resolve();
          };
          req.once('close', end);
          res.once('close', end);
          // A client gone before these listeners existed would otherwise keep its slot forever.
          if (res.destroyed || req.socket.destroyed) end();
        });
      },
    },
    {
      method: 'GET', path: '/api/incidents', access: 'session',
      handler: async ({ res, url }) => sendJson(res, 200, await d.bus.call(serveOp(incidentManifest, 'list'), listQuery(url))),
    },
    {
      method: 'GET', path: '/api/incidents/:id', access: 'session',
      handler: async ({ res, params }) => sendJson(res, 200, await d.bus.call(serveOp(incidentManifest, 'get'), { id: incidentParam(params.id) })),
    },
    ...OPERATOR_ACTS.map(act),
    { method: 'GET', path: '/api/integrity/status', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(integrityManifest, 'status'), {})) },
    { method: 'GET', path: '/api/attestation/status', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(attestorManifest, 'status'), {})) },
  ];
}
