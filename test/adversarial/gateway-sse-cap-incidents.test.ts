// The Security page's incident stream shares the gateway's event-stream slots: one session (or a stolen cookie) cannot
// take MAX_STREAMS_PER_SESSION of /api/events and as many again of /api/incidents/events. The routes as the gateway wires them (allRoutes).
import t from 'tap';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { MANIFESTS } from '../../runtime/catalog.js';
import { SESSION_COOKIE, sessionCookie } from '../../actors/gateway/auth-guard.js';
import type { Guard } from '../../actors/gateway/http.js';
import { MAX_STREAMS_PER_SESSION } from '../../actors/gateway/routes/observe.js';
import { allRoutes } from '../../actors/gateway/routes/index.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';

const bus = await startTestBus(MANIFESTS, { streams: true });
const gw = await bus.connect('gateway');
const incident = await bus.connect('incident');
const SESSIONS = ['s0', 's1'];
const guard: Guard = (access, c) => {
  if (access === 'session' && !SESSIONS.includes(sessionCookie(c.req) ?? '')) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no session');
};
const srv = await serveRoutes(allRoutes({ bus: gw, log: createLogger('test'), paths: bus.paths, configDir: 'policy' }), guard);
const open: ClientRequest[] = [];
t.teardown(async () => { for (const r of open) r.destroy(); await srv.close(); await incident.close(); await gw.close(); await bus.stop(); });
const u = new URL(srv.url);
const as = (s: string) => `${SESSION_COOKIE}=${s}`;

/** Opens a stream; resolves with its status and, for a 200, a way to read what arrives. */
function stream(path: string, cookie: string): Promise<{ status: number; body: () => string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host: u.host, cookie } }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      if (res.statusCode === 200) { open.push(req); resolve({ status: 200, body: () => body }); return; }
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: () => body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(f: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) { if (f()) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error(`no ${what}`);
}

t.test('SSE cap — the incident stream carries the incident actor\'s transitions, after a ready event', async (t) => {
  const s = await stream('/api/incidents/events', as('s1'));
  t.equal(s.status, 200);
  await until(() => s.body().includes('event: ready'), 'ready event');
  const summary = { id: 'inc-test-0001', class: 'unauthorized_access', key: 'k', severity: 'high', state: 'open', summary: 'x', count: 1, firstSeen: 1, lastSeen: 1, steps: [], escalation: null, target: {} };
  await incident.publishEvent('incident', 'opened', { incident: summary, reason: 'a test' });
  await until(() => s.body().includes('event: incident'), 'incident event');
  t.match(JSON.parse(/event: incident\ndata: (.*)\n/.exec(s.body())![1]!), { kind: 'opened', incident: { id: 'inc-test-0001', state: 'open' }, reason: 'a test' });
  // A payload that does not match the incident actor's schema is not forwarded.
  await incident.publishEvent('incident', 'contained', { incident: { id: 'inc-test-0001' }, reason: 'malformed' }).catch(() => undefined); // lint-ok: the client may refuse it first
  gw.publish('secai.evt.incident.resolved', { forged: true });
  await incident.publishEvent('incident', 'updated', { incident: { ...summary, count: 2 }, reason: 'count 2' });
  await until(() => s.body().includes('count 2'), 'the update');
  t.notMatch(s.body(), /malformed|forged/, 'malformed and forged events are not forwarded');
});

t.test('SSE cap — /api/events and /api/incidents/events draw on the same per-session slots', async (t) => {
  for (let i = 0; i < MAX_STREAMS_PER_SESSION - 1; i++) t.equal((await stream('/api/events', as('s0'))).status, 200, `events stream ${i + 1}`);
  t.equal((await stream('/api/incidents/events', as('s0'))).status, 200, 'the incident stream takes the last slot');
  const over = await stream('/api/incidents/events', as('s0'));
  t.equal(over.status, 429, 'one more incident stream: 429');
  t.equal(JSON.parse(over.body()).error.code, 'SECAI_E_TOO_MANY_STREAMS');
  t.equal((await stream('/api/events', as('s0'))).status, 429, 'and one more /api/events too');
});
