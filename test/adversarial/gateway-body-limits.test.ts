// A client sends bodies larger than the bus carries to every gateway route that reads one: each gets a clear 413, never a 500.
import t from 'tap';
import { MANIFESTS } from '../../runtime/catalog.js';
import { MAX_FORWARDED_BODY } from '../../actors/gateway/http.js';
import { allRoutes } from '../../actors/gateway/routes/index.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';

const bus = await startTestBus(MANIFESTS, { streams: true });
const gw = await bus.connect('gateway');
const session = standInSession();
const routes = allRoutes({ bus: gw, log: createLogger('test'), paths: bus.paths, configDir: 'policy' });
const srv = await serveRoutes([session.statusRoute, ...routes], session.guard);
t.teardown(async () => { await srv.close(); await bus.stop(); });
// The session proof, as sign-in hands it to the page (no GET reveals it).
const token = session.token;

/** One JSON body of about `bytes` that every route would otherwise accept the shape of (chat, completion, conversation). */
function body(bytes: number, only?: 'messages'): string {
  const text = 'A'.repeat(only ? bytes : bytes / 2);
  return JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: text }], ...(!only && { prompt: text }), stream: false });
}

async function send(method: string, path: string, data: string, chunked = false) {
  const stream = chunked ? new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(data)); c.close(); } }) : data;
  const r = await fetch(`${srv.url}${path}`, {
    method, headers: { cookie: `secai_test=${session.cookie.value}`, 'x-csrf-token': token, 'content-type': 'application/json' },
    body: stream, ...(chunked && { duplex: 'half' }),
  } as RequestInit);
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

t.test('body limits — no route reads more than one bus message can carry', async (t) => {
  t.ok(MAX_FORWARDED_BODY < 1024 * 1024, 'under nats-server max_payload (1 MiB)');
});

/** Routes that read their body and forward it to the bus (the rest ignore a body). */
const READERS = ['/v1/chat/completions', '/v1/completions', '/api/chat', '/api/generate', '/api/chats/:id', '/api/models/import', '/api/auth/login'];

t.test('body limits — every route answers 413 with a JSON error to a body over the bus limit, never a 500 or a reset', async (t) => {
  const over = body(MAX_FORWARDED_BODY + 1024);
  const withBody = routes.filter((r) => (r.method === 'POST' || r.method === 'PUT') && !r.longBody);
  t.ok(withBody.length >= 10, `${withBody.length} routes take a body`);
  t.ok(READERS.every((p) => withBody.some((r) => r.path === p)), 'every body reader is among them');
  for (const r of withBody) {
    const path = r.path.replace(/:(\w+)/g, (_, name: string) => (name === 'id' ? 'chat-aaaaaaaa' : 'x'));
    for (const chunked of [false, true]) {
      const what = `${r.method} ${r.path}${chunked ? ' (chunked, no Content-Length)' : ''}`;
      const res = await send(r.method, path, over, chunked).catch((e: Error) => ({ status: 0, type: '', text: String((e.cause as Error)?.message ?? e) }));
      t.not(res.status, 0, `${what}: an answer, not a reset (${res.text.slice(0, 80)})`);
      t.not(res.status, 500, `${what}: never a 500`);
      // With a declared length every route refuses; chunked, the routes that read a body do.
      if (!chunked || READERS.includes(r.path)) {
        t.equal(res.status, 413, `${what}: 413, not ${res.status}`);
        t.match(res.type, /^application\/json/, 'a JSON error');
        t.match(res.text, /SECAI_E_PAYLOAD_TOO_LARGE/, 'naming the code');
      }
    }
  }
});

t.test('body limits — a body just under the limit is carried by the bus to the actor', async (t) => {
  // No inference actor runs here: a carried request finds no responder (503); one the bus could not carry would fail otherwise.
  const res = await send('POST', '/v1/chat/completions', body(MAX_FORWARDED_BODY - 4096, 'messages'));
  t.equal(res.status, 503, res.text.slice(0, 200));
  t.match(res.text, /SECAI_E_NO_RESPONDER/);
});
