// The web session from the attacker's side: a page (real Chromium) on another loopback port, and the local server behind
// it replaying the cookie the browser handed it, can neither act nor read; the owner's own tab keeps working.
import t from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { disposeAppliance, setupCode, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';
import { cleanup, fastPolicyDir } from '../helpers/vault-actor.js';
import { allRoutes } from '../../actors/gateway/routes/index.js';

t.setTimeout(240_000);
const P = 'owner passphrase for the foreign port test';
const policy = fastPolicyDir();
const a = await startAppliance({ headless: false, env: { SECAI_CONFIG: policy }, timeoutMs: 60_000 });
const gw = a.httpUrl;

// The attacker's local server: it serves the page and keeps every request's headers (the browser sends it our cookie).
const received: IncomingHttpHeaders[] = [];
const evil = createServer((req, res) => {
  received.push(req.headers);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><meta charset="utf-8"><title>a page on another port</title><p>hello</p>');
});
await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
const b = await openBrowser();
t.teardown(async () => {
  await b.close();
  await new Promise<void>((r) => evil.close(() => r()));
  await disposeAppliance(a);
  cleanup(policy);
});

/** What the owner's tab can do with its own session (the proof from this tab's sessionStorage). */
const ownerCall = async (path: string) => await b.page.evaluate(`(async () => {
  const r = await fetch(${JSON.stringify(path)}, { headers: { 'x-csrf-token': sessionStorage.getItem('secai.csrf') ?? '' } });
  return { status: r.status, body: await r.json() };
})()`) as { status: number; body: Record<string, unknown> };

t.test('web session — the owner signs in through the UI; a reload keeps the session, a new tab signs in again', async (t) => {
  const setup = await fetch(`${gw}/api/auth/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: P, setupCode: setupCode(a) }) });
  t.equal(setup.status, 200, 'first-run setup');
  await b.page.goto(`${gw}/machines`);
  await b.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await b.page.getByLabel('Passphrase').fill(P);
  await b.page.getByRole('button', { name: 'Sign in' }).click();
  await b.page.getByRole('heading', { name: 'Machines' }).waitFor();
  await b.page.getByTestId('live').getByText('live').waitFor();
  t.pass('signed in, and the live event stream (a fetch stream carrying the proof) is connected');
  await b.page.reload();
  await b.page.getByRole('heading', { name: 'Machines' }).waitFor();
  t.equal((await ownerCall('/api/vault/status')).body.state, 'unlocked', 'after a reload the tab still holds its session');
  const tab = await b.context.newPage();
  await tab.goto(`${gw}/machines`);
  await tab.getByRole('heading', { name: 'Sign in' }).waitFor();
  t.pass('a new tab has the cookie but not the proof: it is asked to sign in');
  await tab.close();
});

t.test('web session — a page on another loopback port can neither act nor read (fetch, no-cors, form, img, EventSource)', async (t) => {
  await b.page.goto(`${evilUrl}/`);
  const cookie = received.map((h) => h.cookie ?? '').find((c) => c.includes('secai_session='));
  t.ok(cookie, 'the premise: the browser sent our session cookie to the other port');
  // A string, not a function: the test runner's transform would add helpers the page does not have.
  const seen = await b.page.evaluate(`(async (gw) => {
    const out = {};
    const attempt = async (name, f) => { try { out[name] = await f(); } catch { out[name] = 'threw'; } };
    await attempt('status', async () => \`read:\${await (await fetch(\`\${gw}/api/auth/status\`, { credentials: 'include' })).text()}\`);
    await attempt('machines', async () => \`read:\${(await fetch(\`\${gw}/api/machines\`, { credentials: 'include' })).status}\`);
    await attempt('lock', async () => (await fetch(\`\${gw}/api/vault/lock\`, { method: 'POST', mode: 'no-cors', credentials: 'include' })).type);
    await attempt('logout', async () => (await fetch(\`\${gw}/api/auth/logout\`, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' })).type);
    out.img = await new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve('loaded');
      img.onerror = () => resolve('error');
      img.src = \`\${gw}/api/machines\`;
    });
    out.events = await new Promise((resolve) => {
      const es = new EventSource(\`\${gw}/api/events\`, { withCredentials: true });
      es.onmessage = () => { es.close(); resolve('message'); };
      es.onerror = () => { es.close(); resolve('error'); };
    });
    // A form post into a hidden frame: the gateway's answer (a refusal) loads there, unreadable.
    const f = Object.assign(document.createElement('iframe'), { name: 'sink' });
    document.body.append(f);
    const form = Object.assign(document.createElement('form'), { method: 'POST', action: \`\${gw}/api/vault/lock\`, target: 'sink' });
    document.body.append(form);
    const loaded = new Promise((r) => f.addEventListener('load', () => r('loaded'), { once: true }));
    form.submit();
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 20_000))]);
    await attempt('frame', async () => f.contentDocument?.body?.textContent ?? 'unreadable');
    return out;
  })(${JSON.stringify(gw)})`) as Record<string, string>;
  t.same(seen, { status: 'threw', machines: 'threw', lock: 'threw', logout: 'threw', img: 'error', events: 'error', frame: 'unreadable' }, 'nothing readable');
  await b.page.goto(`${gw}/machines`);
  await b.page.getByRole('heading', { name: 'Machines' }).waitFor();
  t.equal((await ownerCall('/api/vault/status')).body.state, 'unlocked', 'no state change: the vault is still unlocked');
  t.equal(((await ownerCall('/api/auth/sessions')).body.sessions as unknown[]).length, 2, 'and the owner is still signed in (setup + UI sessions)');
});

t.test('web session — the stolen cookie replayed by a plain process (forging Origin) opens nothing and reveals no token', async (t) => {
  const stolen = received.map((h) => h.cookie ?? '').find((c) => c.includes('secai_session='))!;
  const forged = { cookie: stolen, origin: gw, 'sec-fetch-site': 'same-origin' };
  const status = await fetch(`${gw}/api/auth/status`, { headers: forged });
  const body = (await status.json()) as Record<string, unknown>;
  t.equal(body.loggedIn, false, 'the cookie alone is not signed in');
  t.notOk('csrf' in body || 'csrfToken' in body, 'no token in the status reply');
  t.notOk(JSON.stringify(body).match(/[A-Za-z0-9_-]{43}/), 'nothing token-shaped either');
  const sessionRoutes = allRoutes({ bus: {} as never, log: {} as never, paths: {} as never, configDir: policy }).filter((r) => r.access === 'session');
  t.ok(sessionRoutes.length >= 20, `${sessionRoutes.length} session routes`);
  for (const r of sessionRoutes) {
    const path = r.path.replace(/:[a-z]+/g, 'x');
    const res = await fetch(gw + path, {
      method: r.method, signal: AbortSignal.timeout(15_000),
      headers: { ...forged, ...(r.method !== 'GET' && { 'content-type': 'application/json' }) },
      ...(r.method !== 'GET' && { body: JSON.stringify({ passphrase: P, level: 1, old: P, new: `${P}!` }) }),
    });
    await res.body?.cancel();
    t.ok(res.status === 401 || res.status === 403, `${r.method} ${r.path}: ${res.status}`);
  }
  t.equal((await ownerCall('/api/vault/status')).body.state, 'unlocked', 'the vault was not touched');
  t.equal(((await ownerCall('/api/auth/sessions')).body.sessions as unknown[]).length, 2, 'no session ended');
});

t.test('web session — the session proof without the cookie is nothing either, and foreign Origins are refused even with both', async (t) => {
  const proof = await b.page.evaluate(`sessionStorage.getItem('secai.csrf') ?? ''`) as string;
  t.equal((await fetch(`${gw}/api/vault/status`, { headers: { 'x-csrf-token': proof } })).status, 401);
  const cookie = (await b.context.cookies(gw)).map((c) => `${c.name}=${c.value}`).join('; ');
  const both = { cookie, 'x-csrf-token': proof };
  t.equal((await fetch(`${gw}/api/vault/status`, { headers: both })).status, 200, 'cookie and proof: the session');
  t.equal((await fetch(`${gw}/api/vault/status`, { headers: { ...both, origin: evilUrl } })).status, 403, 'a foreign Origin: refused');
  t.equal((await fetch(`${gw}/api/vault/status`, { headers: { ...both, 'sec-fetch-site': 'same-site' } })).status, 403, 'same-site is not same-origin');
  t.equal((await fetch(`${gw}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: evilUrl }, body: JSON.stringify({ passphrase: P }) })).status, 403, 'login from a foreign origin');
});
