// Chat history routes on a real bus with the real vault actor: records in the gateway's namespace, strict ids, a locked vault refuses.
import t from 'tap';
import { MANIFESTS } from '../../runtime/catalog.js';
import { chatRoutes, MAX_CHATS } from '../../actors/gateway/routes/chats.js';
import { defineManifest } from '../../bus/manifest.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const P = 'the right passphrase';
const keeper = defineManifest({ name: 'keeper', kind: 'client', description: 'test: sets up, locks and unlocks the vault', serves: {}, commands: {}, publishes: {}, requests: ['vault.setup', 'vault.lock', 'vault.unlock', 'vault.list'], subscribes: [] });
const bus = await startTestBus([...MANIFESTS, keeper], { streams: true });
const policy = fastPolicyDir();
const vault = await startActorProcess(bus, 'vault', policy);
const gw = await bus.connect('gateway');
const admin = await bus.connect('keeper');
const session = standInSession();
const srv = await serveRoutes([session.statusRoute, ...chatRoutes({ bus: gw, log: createLogger('test'), paths: bus.paths, configDir: policy })], session.guard);
t.teardown(async () => { await srv.close(); await killHard(vault); await bus.stop(); cleanup(policy); });
// The stand-in session's proof token, as login hands it out (the status route never does).
const token = session.token;

async function call(method: string, path: string, body?: unknown, o: { csrf?: boolean; raw?: string; cookie?: boolean } = {}) {
  const r = await fetch(`${srv.url}${path}`, {
    method,
    headers: {
      ...(o.cookie !== false && { cookie: `secai_test=${session.cookie.value}` }),
      ...(o.csrf !== false && { 'x-csrf-token': token }),
      ...(body !== undefined || o.raw !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(o.raw !== undefined ? { body: o.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

const chat = (title: string, n = 2) => ({
  title, model: 'tiny',
  messages: Array.from({ length: n }, (_, i) => (i % 2 ? { role: 'assistant', content: `reply ${i}` } : { role: 'user', content: `question ${i}` })),
});

await admin.request('vault', 'setup', { passphrase: P }, 30_000);

t.test('gateway chats — save, list, reopen, overwrite, delete', async (t) => {
  t.same((await call('GET', '/api/chats')).json, { chats: [] });
  const a = await call('PUT', '/api/chats/chat-aaaaaaaa', chat('first'));
  t.equal(a.status, 200);
  t.match(a.json, { id: 'chat-aaaaaaaa', title: 'first', updatedAt: Number });
  t.equal((await call('PUT', '/api/chats/chat-bbbbbbbb', chat('second', 4))).status, 200);
  const list = (await call('GET', '/api/chats')).json.chats as { id: string; title: string; updatedAt: number }[];
  t.same(list.map((c) => c.title).sort(), ['first', 'second']);
  t.ok(list[0]!.updatedAt >= list[1]!.updatedAt, 'newest first');
  const b = await call('GET', '/api/chats/chat-bbbbbbbb');
  t.match(b.json, { id: 'chat-bbbbbbbb', title: 'second', model: 'tiny' });
  t.equal(b.json.messages.length, 4);
  t.same(b.json.messages[1], { role: 'assistant', content: 'reply 1' });
  t.equal((await call('PUT', '/api/chats/chat-aaaaaaaa', chat('first, renamed', 6))).status, 200);
  t.equal((await call('GET', '/api/chats/chat-aaaaaaaa')).json.messages.length, 6, 'saved again: the whole conversation replaced');
  t.equal((await call('GET', '/api/chats')).json.chats.length, 2);
  t.same((await call('DELETE', '/api/chats/chat-aaaaaaaa')).json, { deleted: true });
  t.equal((await call('GET', '/api/chats/chat-aaaaaaaa')).json.error.code, 'SECAI_E_CHAT_NOT_FOUND');
  t.equal((await call('GET', '/api/chats/chat-aaaaaaaa')).status, 404);
  t.equal((await call('DELETE', '/api/chats/chat-aaaaaaaa')).status, 404);
  t.same((await call('GET', '/api/chats')).json.chats.map((c: { id: string }) => c.id), ['chat-bbbbbbbb']);
});

t.test('gateway chats — records live in the gateway namespace, encrypted by the vault', async (t) => {
  t.same((await admin.request<{ keys: string[] }>('vault', 'list', {})).keys, [], 'another identity sees none of them');
  t.same((await gw.request<{ keys: string[] }>('vault', 'list', { prefix: 'chats' })).keys.sort(), ['chats-meta/chat-bbbbbbbb', 'chats/chat-bbbbbbbb']);
});

t.test('gateway chats — ids are validated strictly; nothing else reaches the vault', async (t) => {
  for (const id of ['short', '..%2F..%2Fx', 'a'.repeat(65), 'chat%00aaaaaaa', 'chat aaaaaaaa', 'chät-aaaaaaa', '%2Fchats%2Fx']) {
    for (const [m, body] of [['GET', undefined], ['PUT', chat('x')], ['DELETE', undefined]] as const) {
      const r = await call(m, `/api/chats/${id}`, body);
      t.equal(r.status, 400, `${m} ${id} refused`);
      t.equal(r.json.error.code, 'SECAI_E_USAGE');
    }
  }
  t.equal((await call('GET', '/api/chats/a/b')).status, 404, 'a second segment is no route');
});

t.test('gateway chats — the body is schema-checked and size-bounded', async (t) => {
  const bad: [string, unknown][] = [
    ['no title', { model: 'x', messages: [] }],
    ['empty title', { title: '', model: 'x', messages: [] }],
    ['an unknown key', { ...chat('x'), extra: 1 }],
    ['a system role', { title: 'x', model: 'x', messages: [{ role: 'system', content: 'obey' }] }],
    ['a message with an unknown key', { title: 'x', model: 'x', messages: [{ role: 'user', content: 'x', html: '<b>' }] }],
    ['content not a string', { title: 'x', model: 'x', messages: [{ role: 'user', content: 5 }] }],
    ['a title of 201 characters', { title: 'x'.repeat(201), model: 'x', messages: [] }],
    ['an array', [1, 2]],
  ];
  for (const [what, body] of bad) {
    const r = await call('PUT', '/api/chats/chat-cccccccc', body);
    t.equal(r.status, 400, `${what}: 400`);
    t.equal(r.json.error.code, 'SECAI_E_SCHEMA', what);
  }
  t.equal((await call('PUT', '/api/chats/chat-cccccccc', undefined, { raw: '{not json' })).status, 400);
  const big = await call('PUT', '/api/chats/chat-cccccccc', { title: 'big', model: 'x', messages: [{ role: 'user', content: 'x'.repeat(800 * 1024) }] });
  t.equal(big.status, 413, 'over 768 KiB: refused');
  t.equal((await call('GET', '/api/chats/chat-cccccccc')).status, 404, 'nothing was saved');
});

t.test('gateway chats — session proof: reads and writes need the cookie and the token', async (t) => {
  t.equal((await call('GET', '/api/chats', undefined, { cookie: false })).status, 401);
  t.equal((await call('GET', '/api/chats', undefined, { csrf: false })).status, 403, 'the cookie alone reads nothing');
  t.equal((await call('PUT', '/api/chats/chat-dddddddd', chat('x'), { csrf: false })).status, 403);
  t.equal((await call('DELETE', '/api/chats/chat-bbbbbbbb', undefined, { csrf: false })).status, 403);
  t.equal((await call('GET', '/api/chats/chat-bbbbbbbb')).status, 200, 'the conversation is still there');
});

t.test('gateway chats — a locked vault: 423 VAULT_LOCKED on every route, and nothing changes', async (t) => {
  const before = (await gw.request<{ keys: string[] }>('vault', 'list', { prefix: '' })).keys;
  await admin.request('vault', 'lock');
  for (const [m, path, body] of [['GET', '/api/chats', undefined], ['GET', '/api/chats/chat-bbbbbbbb', undefined], ['PUT', '/api/chats/chat-bbbbbbbb', chat('overwritten')], ['PUT', '/api/chats/chat-eeeeeeee', chat('new')], ['DELETE', '/api/chats/chat-bbbbbbbb', undefined]] as const) {
    const r = await call(m, path, body);
    t.equal(r.status, 423, `${m} ${path}: 423`);
    t.equal(r.json.error.code, 'SECAI_E_VAULT_LOCKED');
  }
  await admin.request('vault', 'unlock', { passphrase: P }, 30_000);
  t.same((await gw.request<{ keys: string[] }>('vault', 'list', { prefix: '' })).keys, before, 'the same records');
  t.equal((await call('GET', '/api/chats/chat-bbbbbbbb')).json.title, 'second', 'unchanged');
});

t.test('gateway chats — a bounded number of conversations', async (t) => {
  t.ok(MAX_CHATS >= 100, `at most ${MAX_CHATS}`);
  // Fill up to the bound through the vault directly (the same records the route writes), then try one more.
  const have = (await gw.request<{ keys: string[] }>('vault', 'list', { prefix: 'chats/' })).keys.length;
  for (let i = have; i < MAX_CHATS; i++) {
    const id = `fill-${String(i).padStart(5, '0')}`;
    const { ticket } = await gw.request<{ ticket: string }>('vault', 'put', { key: `chats/${id}`, value: Buffer.from(JSON.stringify({ id, title: id, model: '', messages: [], updatedAt: 1 })) });
    await gw.request('vault', 'commit', { ticket });
  }
  const r = await call('PUT', '/api/chats/chat-ffffffff', chat('one too many'));
  t.equal(r.status, 409);
  t.equal(r.json.error.code, 'SECAI_E_INVALID_STATE');
  t.equal((await call('PUT', '/api/chats/chat-bbbbbbbb', chat('an existing one may still be saved'))).status, 200);
  const list = (await call('GET', '/api/chats')).json.chats as { id: string; title: string }[];
  t.equal(list.length, MAX_CHATS, 'records saved without their summary are listed from the conversation itself');
  t.ok(list.some((c) => c.id === 'fill-00001' && c.title === 'fill-00001'));
});

