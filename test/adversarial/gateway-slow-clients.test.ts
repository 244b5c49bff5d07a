// A local client that sends slowly must not hold the gateway's sockets: header, body, request and keep-alive deadlines.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { HTTP_TIMEOUTS, readJson, sendJson, type Route } from '../../actors/gateway/http.js';
import { serveRoutes } from '../helpers/route-server.js';

// Small bounds through options; the gateway's own are HTTP_TIMEOUTS.
const LIMITS = { headersMs: 800, bodyMs: 1200, requestMs: 2500, keepAliveMs: 400 };
const routes: Route[] = [
  { method: 'POST', path: '/echo', access: 'public', handler: async ({ req, res }) => sendJson(res, 200, await readJson(req, 4096)) },
  { method: 'POST', path: '/ignore', access: 'public', handler: ({ res }) => sendJson(res, 200, { ok: true }) },
  // Like the upload route: exempt from bodyMs, still under requestMs.
  { method: 'POST', path: '/long', access: 'public', longBody: true, handler: async ({ req, res }) => { for await (const _ of req) { /* drain */ } sendJson(res, 200, { ok: true }); } },
];
const srv = await serveRoutes(routes, undefined, LIMITS);
t.teardown(() => srv.close());
const port = Number(new URL(srv.url).port);

interface Probe { sock: Socket; received: () => string; closed: Promise<void>; stop: () => void; sent: () => number }

/** Opens a connection, writes `head` at once, then `drip` one byte every 100 ms until the server closes it (or 200 bytes). */
function probe(head: string, drip = ''): Probe {
  const sock = connect(port, '127.0.0.1');
  let got = '';
  let sent = 0;
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => { got += d; });
  sock.on('error', () => { /* a reset from the server is what some cases expect; `closed` reports it */ });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.write(head);
  const timer = setInterval(() => {
    if (sock.destroyed || sent >= drip.length) return;
    sock.write(drip[sent++]!);
  }, 100);
  void closed.then(() => clearInterval(timer));
  return { sock, received: () => got, closed, stop: () => { clearInterval(timer); sock.destroy(); }, sent: () => sent };
}

/** Resolves true when the socket closed within `ms`, false otherwise (then it is destroyed by us). */
async function closedWithin(p: Probe, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.closed.then(() => true), new Promise<boolean>((res) => { timer = setTimeout(() => res(false), ms); })]);
  clearTimeout(timer);
  if (!r) p.stop();
  return r;
}

const host = `Host: 127.0.0.1:${port}\r\n`;
const post = (path: string, length: number) => `POST ${path} HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

t.test('slow clients — the gateway has finite header, body, request and keep-alive deadlines', async (t) => {
  for (const [k, v] of Object.entries(HTTP_TIMEOUTS)) t.ok(Number.isFinite(v) && v > 0, `${k} is set (${v} ms)`);
  t.ok(HTTP_TIMEOUTS.bodyMs < HTTP_TIMEOUTS.requestMs, 'ordinary bodies get less time than uploads');
});

t.test('slow clients — a JSON body trickled one byte at a time is cut off with 408 and the socket closed', async (t) => {
  const p = probe(post('/echo', 200), `{"a":"${'x'.repeat(300)}`);
  t.ok(await closedWithin(p, 20_000), 'the server closed the connection');
  t.ok(p.sent() < 200, `the body never completed (${p.sent()} of 200 bytes sent)`);
  t.match(p.received(), /^HTTP\/1\.1 408 /, '408 Request Timeout');
  t.match(p.received(), /"code":"SECAI_E_REQUEST_TIMEOUT"/, 'with a JSON error');
});

t.test('slow clients — a body the route never reads is cut off too', async (t) => {
  const p = probe(post('/ignore', 200), 'y'.repeat(300));
  t.ok(await closedWithin(p, 20_000), 'the server closed the connection');
  t.ok(p.sent() < 200, `the body never completed (${p.sent()} of 200 bytes sent)`);
});

t.test('slow clients — headers trickled one byte at a time are cut off', async (t) => {
  const p = probe(`GET /echo HTTP/1.1\r\n${host}`, 'X-Slow: ' + 'z'.repeat(300));
  t.ok(await closedWithin(p, 20_000), 'the server closed the connection');
  t.ok(p.sent() < 300, `the headers never completed (${p.sent()} bytes sent)`);
});

t.test('slow clients — an upload-like body (no body deadline) is still cut off at the request deadline', async (t) => {
  const p = probe(post('/long', 500), 'w'.repeat(500));
  t.ok(await closedWithin(p, 20_000), 'the server closed the connection');
  t.ok(p.sent() < 500, `the body never completed (${p.sent()} of 500 bytes sent)`);
});

t.test('slow clients — an idle keep-alive connection is closed', async (t) => {
  const p = probe(`${post('/echo', 2)}{}`);
  t.ok(await closedWithin(p, 20_000), 'the server closed the idle connection');
  t.match(p.received(), /^HTTP\/1\.1 200 /, 'after answering the request');
});
