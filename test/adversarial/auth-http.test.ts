import t from 'tap';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeAppliance, setupCode, startAppliance, type Appliance } from '../helpers/appliance.js';
import { fastPolicyDir, cleanup } from '../helpers/vault-actor.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';
import { httpFetch } from '../helpers/http.js';

const P = 'the owner passphrase';

interface Res { status: number; body: any; cookie: string | undefined; setCookie: string }

async function call(a: Appliance, method: string, path: string, o: { cookie?: string; csrf?: string; body?: unknown } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (o.cookie !== undefined) headers.cookie = `secai_session=${o.cookie}`;
  if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const r = await httpFetch(a.httpUrl + path, { method, headers, ...(o.body !== undefined && { body: JSON.stringify(o.body) }) });
  const setCookie = r.headers.getSetCookie().join('\n');
  const m = /secai_session=([^;]*)/.exec(setCookie);
  return { status: r.status, body: await r.json().catch(() => null) /* lint-ok: a body that is not JSON is null; the status tells the rest */, cookie: m?.[1], setCookie };
}

t.test('auth over HTTP — setup, cookies, CSRF, fixation, sessions, throttle, panic (real appliance)', async (t) => {
  // A 60 s first delay: the throttle check after a restart must not depend on how fast the restart is.
  // The behavioral stage (minutes on a loaded machine) is covered by the quarantine's own tests; off here.
  const policy = fastPolicyDir((y) => y.replace(/base_delay_seconds: 1$/m, 'base_delay_seconds: 60').replace(/^(\s*behavioral_test:) optional$/m, '$1 off'));
  const a = await startAppliance({ env: { SECAI_CONFIG: policy } });
  t.teardown(async () => { await disposeAppliance(a); cleanup(policy); });

  let r = await call(a, 'GET', '/api/auth/status');
  t.same(r.body, { initialized: false, loggedIn: false, vault: 'uninitialized' });
  t.equal((await call(a, 'GET', '/api/vault/status')).status, 401, 'session routes are closed without a session');

  r = await call(a, 'POST', '/api/auth/setup', { body: { passphrase: P, setupCode: setupCode(a) } });
  t.equal(r.status, 200, JSON.stringify(r.body));
  t.match(r.setCookie, /^secai_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/m);
  t.notOk(JSON.stringify(r.body).includes(r.cookie!), 'the session id is only in the cookie');
  const s1 = { id: r.cookie!, csrf: r.body.csrf as string };
  t.equal((await call(a, 'POST', '/api/auth/setup', { body: { passphrase: 'another passphrase' } })).status, 409, 'setup only once');

  r = await call(a, 'GET', '/api/vault/status', { cookie: s1.id, csrf: s1.csrf });
  t.equal(r.status, 200);
  t.equal(r.body.state, 'unlocked');

  t.test('session proof: every session call needs the session\'s own token, reads included', async (t) => {
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s1.id })).status, 403, 'the cookie alone reads nothing');
    t.equal((await call(a, 'POST', '/api/vault/lock', { cookie: s1.id })).status, 403, 'missing token');
    t.equal((await call(a, 'POST', '/api/vault/lock', { cookie: s1.id, csrf: 'A'.repeat(43) })).status, 403, 'wrong token');
    t.equal((await call(a, 'POST', '/api/vault/lock', { csrf: s1.csrf })).status, 401, 'a token without the cookie');
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s1.id, csrf: s1.csrf })).body.state, 'unlocked', 'nothing happened');
    t.equal((await call(a, 'POST', '/api/vault/lock', { cookie: s1.id, csrf: s1.csrf })).status, 200);
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s1.id, csrf: s1.csrf })).body.state, 'locked');
    r = await call(a, 'POST', '/api/vault/unlock', { cookie: s1.id, csrf: s1.csrf, body: { passphrase: P } });
    t.equal(r.status, 200, JSON.stringify(r.body));
  });

  t.test('the web UI\'s chat and import routes: closed without a session, writes need the CSRF token', async (t) => {
    for (const [m, path] of [['GET', '/api/chats'], ['GET', '/api/chats/chat-aaaaaaaa'], ['GET', '/api/models/catalog'], ['PUT', '/api/chats/chat-aaaaaaaa'], ['DELETE', '/api/chats/chat-aaaaaaaa'], ['POST', '/api/models/import'], ['POST', '/api/models/upload?name=x.gguf']] as const) {
      t.equal((await call(a, m, path, { csrf: s1.csrf })).status, 401, `${m} ${path} without a session`);
    }
    const conv = { title: 'hello', model: 'm', messages: [{ role: 'user', content: 'hello' }] };
    t.equal((await call(a, 'PUT', '/api/chats/chat-aaaaaaaa', { cookie: s1.id, body: conv })).status, 403, 'save without the token');
    t.equal((await call(a, 'GET', '/api/chats/chat-aaaaaaaa', { cookie: s1.id, csrf: s1.csrf })).status, 404, 'nothing saved');
    t.equal((await call(a, 'PUT', '/api/chats/chat-aaaaaaaa', { cookie: s1.id, csrf: s1.csrf, body: conv })).status, 200);
    t.equal((await call(a, 'GET', '/api/chats', { cookie: s1.id, csrf: s1.csrf })).body.chats[0].title, 'hello');
    t.equal((await call(a, 'DELETE', '/api/chats/chat-aaaaaaaa', { cookie: s1.id })).status, 403, 'delete without the token');
    t.equal((await call(a, 'DELETE', '/api/chats/chat-aaaaaaaa', { cookie: s1.id, csrf: s1.csrf })).status, 200);
    t.equal((await call(a, 'POST', '/api/models/import', { cookie: s1.id, body: { path: '/etc/hostname' } })).status, 403, 'import without the token');
    const up = await httpFetch(`${a.httpUrl}/api/models/upload?name=x.gguf`, { method: 'POST', headers: { cookie: `secai_session=${s1.id}`, 'content-type': 'application/octet-stream' }, body: 'GGUF' });
    t.equal(up.status, 403, 'upload without the token');
    t.same((await call(a, 'GET', '/api/quarantine/jobs', { cookie: s1.id, csrf: s1.csrf })).body.jobs, [], 'no job was queued');
  });

  t.test('model removal over HTTP: a session, its CSRF token and the passphrase again; strict names; nothing removed on a refusal', async (t) => {
    const dir = join(a.home, 'user-files');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tiny-rm.gguf'), encodeTinyLlama());
    writeFileSync(join(dir, 'tiny-op.gguf'), encodeTinyLlama());
    for (const f of ['tiny-rm.gguf', 'tiny-op.gguf']) {
      const imp = a.ctl(['models', 'import', join(dir, f), '--json'], { timeoutMs: 180_000 });
      t.equal(imp.code, 0, imp.stdout + imp.stderr);
    }
    const listed = async () => ((await call(a, 'GET', '/api/models', { cookie: s1.id, csrf: s1.csrf })).body.models as { name: string }[]).map((m) => m.name).sort();
    t.same(await listed(), ['tiny-op', 'tiny-rm']);
    // The signed command takes the same removal path; the same bytes stay stored for the other name.
    const rm = a.ctl(['models', 'rm', 'tiny-op', '--json']);
    t.equal(rm.code, 0, rm.stdout + rm.stderr);
    t.same(await listed(), ['tiny-rm']);
    t.equal((await call(a, 'POST', '/api/models/tiny-rm/verify', { cookie: s1.id, csrf: s1.csrf })).body.ok, true, 'the shared copy is still there');
    const del = (path: string, o: { cookie?: string; csrf?: string; body?: unknown }) => call(a, 'DELETE', path, o);

    r = await del('/api/models/tiny-rm', { csrf: s1.csrf, body: { passphrase: P } });
    t.equal(r.status, 401, 'no session: 401, even with a token and the passphrase');
    t.equal(r.body.error.code, 'SECAI_E_UNAUTHORIZED');
    t.equal((await del('/api/models/tiny-rm', { cookie: s1.id, body: { passphrase: P } })).status, 403, 'no CSRF token: 403');
    t.equal((await del('/api/models/tiny-rm', { cookie: s1.id, csrf: 'A'.repeat(43), body: { passphrase: P } })).status, 403, 'a wrong CSRF token: 403');
    r = await del('/api/models/tiny-rm', { cookie: s1.id, csrf: s1.csrf });
    t.equal(r.status, 400, 'a session cookie and its token alone are not enough: the passphrase is required');
    t.match(r.body.error.message, /passphrase/);
    for (const bad of ['..%2Fx', '.hidden', 'a%00b', 'a%20b', '-x', `${'a'.repeat(129)}`, 'tiny%2Frm', '%E2%80%AEx']) {
      r = await del(`/api/models/${bad}`, { cookie: s1.id, csrf: s1.csrf, body: { passphrase: P } });
      t.equal(r.status, 400, `name ${bad} refused`);
      t.equal(r.body.error.code, 'SECAI_E_USAGE');
    }
    t.not((await del('/api/models/tiny-rm/x', { cookie: s1.id, csrf: s1.csrf, body: { passphrase: P } })).status, 200, 'a nested path is not a model');
    t.same(await listed(), ['tiny-rm'], 'nothing removed so far');

    r = await del('/api/models/tiny-rm', { cookie: s1.id, csrf: s1.csrf, body: { passphrase: 'not the passphrase' } });
    t.equal(r.status, 401, 'a wrong passphrase is refused');
    t.equal(r.body.error.code, 'SECAI_E_WRONG_PASSPHRASE');
    t.same(await listed(), ['tiny-rm'], 'and removes nothing');
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s1.id, csrf: s1.csrf })).status, 200, 'the session itself is still good');
    r = await del('/api/models/no-such-model', { cookie: s1.id, csrf: s1.csrf, body: { passphrase: P } });
    t.equal(r.status, 404, 'an unknown model with the right passphrase: 404');
    t.equal(r.body.error.code, 'SECAI_E_MODEL_NOT_FOUND');

    r = await del('/api/models/tiny-rm', { cookie: s1.id, csrf: s1.csrf, body: { passphrase: P } });
    t.equal(r.status, 200, JSON.stringify(r.body));
    t.match(r.body, { removed: { name: 'tiny-rm' } });
    t.same(await listed(), [], 'gone from the registry');
    t.same(a.ctl(['models', 'list', '--json']).json().models, [], 'securectl agrees');
    const tail = a.ctl(['audit', 'tail', '-n', '500', '--json']);
    const recs = tail.json().records as { subject: string; payload: any }[];
    const removed = recs.filter((x) => x.subject === 'secai.evt.registry.removed').map((x) => x.payload);
    t.match(removed, [{ name: 'tiny-op', by: 'operator', keyId: /^op-[0-9a-f]{16}$/ }, { name: 'tiny-rm', by: 'web session', session: /^[0-9a-f]{16}$/ }], 'the audit chain says who removed each: the operator key, then a web session');
    t.notOk('session' in removed[0] || 'keyId' in removed[1], 'each names only its own kind of caller');
    t.match(recs.filter((x) => x.subject === 'secai.evt.auth.model_removal_refused').map((x) => x.payload.code), ['SECAI_E_WRONG_PASSPHRASE', 'SECAI_E_MODEL_NOT_FOUND']);
    t.notOk(tail.stdout.includes(P), 'no passphrase in the audit chain');
  });

  let s2 = { id: '', csrf: '' };
  t.test('session fixation: login ignores a presented cookie and always issues a new id', async (t) => {
    const planted = 'A'.repeat(43);
    r = await call(a, 'POST', '/api/auth/login', { cookie: planted, body: { passphrase: P } });
    t.equal(r.status, 200, JSON.stringify(r.body));
    t.ok(r.cookie && r.cookie !== planted);
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: planted })).status, 401, 'the planted id never becomes a session');
    const again = await call(a, 'POST', '/api/auth/login', { cookie: r.cookie!, body: { passphrase: P } });
    t.not(again.cookie, r.cookie, 'logging in with a live session still rotates the id');
    s2 = { id: again.cookie!, csrf: again.body.csrf };
    const stale = r.cookie!;
    const staleCsrf = r.body.csrf as string;
    // revoke the middle one through the sessions API
    const list = await call(a, 'GET', '/api/auth/sessions', { cookie: s2.id, csrf: s2.csrf });
    t.equal(list.body.sessions.length, 3);
    t.equal(list.body.sessions.filter((x: { current: boolean }) => x.current).length, 1);
    t.notOk(JSON.stringify(list.body).includes(s2.id), 'listing shows handles, never ids');
    const staleHandle = (await call(a, 'GET', '/api/auth/sessions', { cookie: stale, csrf: staleCsrf })).body.sessions.find((x: { current: boolean }) => x.current).handle;
    t.equal((await call(a, 'DELETE', `/api/auth/sessions/${staleHandle}`, { cookie: s2.id })).status, 403, 'revocation needs CSRF too');
    t.equal((await call(a, 'DELETE', `/api/auth/sessions/${staleHandle}`, { cookie: s2.id, csrf: s2.csrf })).status, 200);
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: stale, csrf: staleCsrf })).status, 401, 'a revoked session is refused at once');
  });

  t.test('logout ends the session and clears the cookie', async (t) => {
    r = await call(a, 'POST', '/api/auth/logout', { cookie: s1.id, csrf: s1.csrf });
    t.equal(r.status, 200);
    t.match(r.setCookie, /secai_session=; .*Max-Age=0/);
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s1.id, csrf: s1.csrf })).status, 401);
  });

  t.test('panic 1 over HTTP locks the vault and ends every session', async (t) => {
    t.equal((await call(a, 'POST', '/api/emergency/panic', { cookie: s2.id, body: { level: 1 } })).status, 403, 'CSRF applies to panic');
    r = await call(a, 'POST', '/api/emergency/panic', { cookie: s2.id, csrf: s2.csrf, body: { level: 1 } });
    t.equal(r.status, 200, JSON.stringify(r.body));
    await new Promise((res) => setTimeout(res, 300));
    t.equal((await call(a, 'GET', '/api/vault/status', { cookie: s2.id, csrf: s2.csrf })).status, 401, 'sessions ended');
    t.equal((await call(a, 'GET', '/api/auth/status')).body.vault, 'locked');
  });

  t.test('brute force: wrong passphrases are throttled, and the throttle survives a kill -9 of the auth actor', async (t) => {
    // A session from before the guesses: the throttle covers its passphrase-bearing calls (model removal) too.
    r = await call(a, 'POST', '/api/auth/login', { body: { passphrase: P } });
    t.equal(r.status, 200, JSON.stringify(r.body));
    const s3 = { id: r.cookie!, csrf: r.body.csrf as string };
    for (let i = 0; i < 3; i++) t.equal((await call(a, 'POST', '/api/auth/login', { body: { passphrase: `wrong guess ${i}` } })).status, 401, `free attempt ${i + 1}`);
    t.equal((await call(a, 'POST', '/api/auth/login', { body: { passphrase: 'wrong guess 3' } })).status, 401, 'the 4th failure is answered too');
    r = await call(a, 'POST', '/api/auth/login', { body: { passphrase: P } });
    t.equal(r.status, 429, 'even the right passphrase waits for the delay');
    t.equal(r.body.error.code, 'SECAI_E_RATE_LIMITED');
    r = await call(a, 'DELETE', '/api/models/any-model', { cookie: s3.id, csrf: s3.csrf, body: { passphrase: P } });
    // Per client (issue #12 item 6): the anonymous guesses do not throttle a signed-in session's own passphrase checks.
    t.equal(r.status, 404, 'model removal from a session has its own ladder: the right passphrase gets through to the registry');
    t.equal(r.body.error.code, 'SECAI_E_MODEL_NOT_FOUND');
    const ping = a.ctl(['ping', 'auth', '--json']);
    t.equal(ping.code, 0, ping.stderr);
    process.kill(ping.json().pid, 'SIGKILL');
    let again: Res | undefined;
    for (let i = 0; i < 100; i++) {
      await new Promise((res) => setTimeout(res, 100));
      again = await call(a, 'POST', '/api/auth/login', { body: { passphrase: P } });
      if (again.status !== 503) break;
    }
    t.equal(again?.status, 429, 'still throttled after the restart');
    t.match(again?.body.error.message, /4 failed attempts: try again in \d+ s/);
  });

  t.test('securectl panic 2 needs --confirm and the passphrase; after it nothing opens', async (t) => {
    let c = a.ctl(['panic', '2']);
    t.equal(c.code, 2);
    t.match(c.stderr, /--confirm/);
    a.env.SECAI_PASSPHRASE = 'not the passphrase';
    c = a.ctl(['panic', '2', '--confirm']);
    t.equal(c.code, 2);
    t.ok(existsSync(join(a.home, 'vault', 'vault.json')), 'a wrong passphrase destroys nothing');
    a.env.SECAI_PASSPHRASE = P;
    c = a.ctl(['panic', '2', '--confirm', '--json']);
    t.equal(c.code, 0, c.stderr);
    t.same(c.json().removed, ['vault/vault.json']);
    t.notOk(existsSync(join(a.home, 'vault', 'vault.json')));
    t.equal(a.ctl(['vault', 'status', '--json']).json().state, 'uninitialized', 'nothing left to open (the bus-level test tries the passphrase)');
    const tail = a.ctl(['audit', 'tail', '-n', '200', '--json']);
    const subjects = tail.json().records.map((x: { subject: string }) => x.subject);
    t.ok(subjects.includes('secai.evt.vault.panicked'), 'the panic is in the audit chain');
    t.ok(subjects.includes('secai.evt.auth.login_failed'));
    t.notOk(tail.stdout.includes(P), 'no passphrase in the audit chain');
  });
});
