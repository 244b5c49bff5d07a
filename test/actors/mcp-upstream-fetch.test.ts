// The MCP firewall's fetch for HTTP upstreams: loopback only, and no abort listener left behind per request on the
// transport's long-lived signal, while aborting that signal still ends a running event stream.
import t from 'tap';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import { loopbackFetch } from '../../actors/mcp-firewall/upstream.js';

const server = createServer((req, res) => {
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: message\ndata: {}\n\n');
    return; // never ends: only an abort stops the reader
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
t.teardown(() => { server.closeAllConnections(); server.close(); });

t.test('200 requests on one signal leave no listener on it', async (t) => {
  const outer = new AbortController();
  for (let i = 0; i < 200; i++) {
    const res = await loopbackFetch(`http://127.0.0.1:${port}/mcp`, { signal: outer.signal });
    t.same(await res.json(), { ok: true }, `answer ${i}`);
  }
  t.equal(getEventListeners(outer.signal, 'abort').length, 0, 'no abort listener accumulates');
});

t.test('aborting the transport\'s signal ends an event stream being read, then unlinks', async (t) => {
  const outer = new AbortController();
  const res = await loopbackFetch(`http://127.0.0.1:${port}/stream`, { signal: outer.signal });
  const reader = res.body!.getReader();
  const first = await reader.read();
  t.notOk(first.done, 'the stream delivered its first event');
  t.equal(getEventListeners(outer.signal, 'abort').length, 1, 'linked while the stream runs');
  const next = reader.read();
  outer.abort(new Error('transport closed'));
  await t.rejects(next, 'the pending read fails once the transport aborts');
  t.equal(getEventListeners(outer.signal, 'abort').length, 0);
});

t.test('a signal already aborted aborts the request', async (t) => {
  const outer = new AbortController();
  outer.abort(new Error('closed before'));
  await t.rejects(loopbackFetch(`http://127.0.0.1:${port}/mcp`, { signal: outer.signal }));
  t.equal(getEventListeners(outer.signal, 'abort').length, 0);
});

t.test('anything but loopback http is refused before a connection', async (t) => {
  for (const url of ['http://192.0.2.1/mcp', 'https://127.0.0.1/mcp', 'http://example.com/mcp', 'file:///etc/passwd']) {
    await t.rejects(loopbackFetch(url), { code: 'SECAI_E_EGRESS_DENIED' }, url);
  }
});
