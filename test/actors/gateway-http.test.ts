import t from 'tap';
import { createServer } from 'node:http';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createRouter, readJson, sendJson, statusFor, type Route } from '../../actors/gateway/http.js';
import { ErrorCode } from '../../common/errors.js';

const routes: Route[] = [
  { method: 'GET', path: '/api/health', access: 'public', handler: ({ res }) => sendJson(res, 200, { ok: true }) },
  { method: 'POST', path: '/api/echo/:name', access: 'public', handler: async ({ req, res, params }) => sendJson(res, 200, { name: params.name, body: await readJson(req, 64) }) },
  { method: 'GET', path: '/api/secret', access: 'session', handler: ({ res }) => sendJson(res, 200, { secret: 42 }) },
  { method: 'GET', path: '/v1/boom', access: 'local-client', handler: () => { throw new Error('kaput'); }, errorShape: (_s, e) => ({ error: { message: e.message, type: 'server_error' } }) },
];

async function serve() {
  let port = 0;
  const srv = createServer(createRouter(routes, () => port));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  port = (srv.address() as { port: number }).port;
  const call = (method: string, path: string, o: { host?: string; body?: string; type?: string } = {}) =>
    new Promise<{ status: number; json: any; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: { host: o.host ?? `127.0.0.1:${port}`, ...(o.type && { 'content-type': o.type }) } }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve({ status: res.statusCode!, json: d ? JSON.parse(d) : null, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(o.body);
    });
  return { srv, call, port };
}

t.test('gateway http — routes, params, security headers', async (t) => {
  const { srv, call } = await serve();
  t.teardown(() => srv.close());
  const h = await call('GET', '/api/health');
  t.equal(h.status, 200);
  t.match(h.headers['content-security-policy'], /default-src 'self'/);
  t.equal(h.headers['x-frame-options'], 'DENY');
  const e = await call('POST', '/api/echo/a%20b', { body: '{"x":1}', type: 'application/json' });
  t.same(e.json, { name: 'a b', body: { x: 1 } });
});

t.test('gateway http — DNS rebinding: a foreign Host header is refused', async (t) => {
  const { srv, call, port } = await serve();
  t.teardown(() => srv.close());
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.1.nip.io:${port}`]) {
    const r = await call('GET', '/api/health', { host });
    t.equal(r.status, 421, `Host '${host}' refused`);
    t.equal(r.json.error.code, ErrorCode.HTTP_HOST);
  }
  t.equal((await call('GET', '/api/health', { host: `localhost:${port}` })).status, 200);
  for (const head of ['GET /api/health HTTP/1.1\r\n\r\n', 'GET /api/health HTTP/1.1\r\nHost:\r\n\r\n', 'GET /api/health HTTP/1.0\r\n\r\n']) {
    const line = await new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.end(head));
      let d = '';
      sock.on('data', (c) => (d += c));
      sock.on('close', () => resolve(d.split('\r\n')[0] ?? ''));
    });
    t.match(line, /^HTTP\/1\.[01] (400|421)/, `no usable Host (${JSON.stringify(head.split('\r\n')[1])}) is refused: ${line}`);
  }
});

t.test('gateway http — fail closed: session routes refuse without an auth guard', async (t) => {
  const { srv, call } = await serve();
  t.teardown(() => srv.close());
  const r = await call('GET', '/api/secret');
  t.equal(r.status, 401);
  t.notOk(JSON.stringify(r.json).includes('42'));
});

t.test('gateway http — bad input gets a clear error in the route family\'s shape', async (t) => {
  const { srv, call } = await serve();
  t.teardown(() => srv.close());
  t.equal((await call('GET', '/nope')).status, 404);
  t.equal((await call('DELETE', '/api/health')).status, 405);
  t.equal((await call('POST', '/api/echo/x', { body: '{bad', type: 'application/json' })).json.error.code, ErrorCode.BAD_MESSAGE);
  t.equal((await call('POST', '/api/echo/x', { body: 'x=1', type: 'application/x-www-form-urlencoded' })).status, 400, 'form posts (CSRF vector) are not JSON');
  t.equal((await call('POST', '/api/echo/x', { body: JSON.stringify({ s: 'x'.repeat(100) }), type: 'application/json' })).status, 413);
  const boom = await call('GET', '/v1/boom');
  t.equal(boom.status, 500);
  t.same(boom.json, { error: { message: 'kaput', type: 'server_error' } });
});

t.test('gateway http — one status table: feature codes map without their route module loaded; unknown codes are 500', async (t) => {
  t.equal(statusFor(ErrorCode.VAULT_LOCKED), 423);
  t.equal(statusFor(ErrorCode.WRONG_PASSPHRASE), 401);
  t.equal(statusFor(ErrorCode.UPLOAD_NOT_FOUND), 404);
  t.equal(statusFor(ErrorCode.AIRLOCK_UNAVAILABLE), 503);
  t.equal(statusFor(ErrorCode.CANCELLED), 499);
  t.equal(statusFor(ErrorCode.INTERNAL), 500);
  t.equal(statusFor('SECAI_E_SOMETHING_NEW'), 500);
  for (const code of Object.values(ErrorCode)) {
    const s = statusFor(code);
    t.ok(s >= 400 && s <= 599, `${code} → ${s}`);
  }
});
