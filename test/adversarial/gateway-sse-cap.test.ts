// One session (or a stolen cookie) opens event streams until the gateway has none left: a per-session cap stops it first.
import t from 'tap';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { MANIFESTS } from '../../runtime/catalog.js';
import { SESSION_COOKIE, sessionCookie } from '../../actors/gateway/auth-guard.js';
import type { Guard } from '../../actors/gateway/http.js';
import { MAX_STREAMS, MAX_STREAMS_PER_SESSION, observeRoutes } from '../../actors/gateway/routes/observe.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';

const bus = await startTestBus(MANIFESTS);
const gw = await bus.connect('gateway');
// Sessions s0..s5 are valid, read the way the real guard reads the cookie.
const SESSIONS = Array.from({ length: 6 }, (_, i) => `s${i}`);
const guard: Guard = (access, c) => {
  if (access === 'session' && !SESSIONS.includes(sessionCookie(c.req) ?? '')) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no session');
};
const srv = await serveRoutes(observeRoutes({ bus: gw, log: createLogger('test'), paths: bus.paths, configDir: 'policy' }), guard);
const open: ClientRequest[] = [];
t.teardown(async () => { for (const r of open) r.destroy(); await srv.close(); await bus.stop(); });
const u = new URL(srv.url);

/** Opens GET /api/events with `cookie`; resolves once the status is known (a 200 stream stays open until destroyed). */
function stream(cookie: string): Promise<{ status: number; body: string; req: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/api/events', headers: { host: u.host, cookie } }, (res: IncomingMessage) => {
      if (res.statusCode === 200) { open.push(req); resolve({ status: 200, body: '', req }); return; }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, req }));
    });
    req.on('error', reject);
    req.end();
  });
}
const as = (s: string) => `${SESSION_COOKIE}=${s}`;

t.test('SSE cap — one session gets at most its share of streams; the next is a 429 with a JSON error', async (t) => {
  t.ok(MAX_STREAMS_PER_SESSION < MAX_STREAMS, 'the per-session cap is below the global one');
  const mine: ClientRequest[] = [];
  for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) {
    const r = await stream(as('s0'));
    t.equal(r.status, 200, `stream ${i + 1} of s0 opens`);
    mine.push(r.req);
  }
  const over = await stream(as('s0'));
  t.equal(over.status, 429, 'the next one for the same session is refused');
  t.equal(JSON.parse(over.body).error.code, 'SECAI_E_TOO_MANY_STREAMS');
  // Padding the Cookie header does not make a new session.
  const padded = await stream(`junk=1; ${as('s0')}; other=2`);
  t.equal(padded.status, 429, 'the same session behind extra cookies is still refused');
  t.equal((await stream(as('s1'))).status, 200, 'another session still gets a stream');

  // A closed stream gives its slot back (observable: the next open succeeds; bounded wait).
  mine[0]!.destroy();
  let again = 0;
  for (let i = 0; i < 100 && again !== 200; i++) {
    again = (await stream(as('s0'))).status;
    if (again !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(again, 200, 'after closing one, the session can open one again');
});

t.test('SSE cap — the global cap still holds across sessions', async (t) => {
  // s0 and s1 hold 5 streams from the test above; fill the rest of the gateway with s2..s4.
  let opened = MAX_STREAMS_PER_SESSION + 1;
  for (const s of ['s2', 's3', 's4']) {
    for (let i = 0; i < MAX_STREAMS_PER_SESSION && opened < MAX_STREAMS; i++) {
      t.equal((await stream(as(s))).status, 200, `${s} stream ${i + 1}`);
      opened++;
    }
  }
  t.equal(opened, MAX_STREAMS, 'the gateway is full');
  const r = await stream(as('s5'));
  t.equal(r.status, 429, 'a fresh session gets a 429 once all slots are taken');
  t.match(JSON.parse(r.body).error, { code: 'SECAI_E_TOO_MANY_STREAMS', message: /at most 16/ });
});
