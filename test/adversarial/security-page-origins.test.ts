// The Security page's routes from the attacker's side: a page (real Chromium) on another loopback port, holding the
// owner's cookie and even the right passphrase, can neither read incidents, integrity or attestation, nor open the
// incident stream, nor acknowledge or resolve; the incident is unchanged and the owner's tab still works.
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BusClient } from '../../bus/client.js';
import { signCommand } from '../../bus/envelope.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, setupCode, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';
import { cleanup, fastPolicyDir } from '../helpers/vault-actor.js';
import { httpFetch } from '../helpers/http.js';

t.setTimeout(240_000);
const P = 'owner passphrase for the security origins test';
// Containment that keeps the owner's session (and so the cookie the attacker's page is sent) alive.
const policy = fastPolicyDir((y) => y.replace(/^(\s+unauthorized_access:) \{ high: \[end_sessions\], critical: \[end_sessions, lock_vault\] \}$/m, '$1 { high: [disable_airlock], critical: [disable_airlock] }'));
const a = await startAppliance({ headless: false, env: { SECAI_CONFIG: policy }, timeoutMs: 60_000 });
const gw = a.httpUrl;
const paths = homePaths(a.home);
const evil = createServer((_req, res) => {
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

const state = (id: string): string => (a.ctl(['incidents', 'show', id, '--json']).json() as { incident: { state: string } }).incident.state;
let id = '';

t.test('security origins — the owner is signed in and an incident is contained', async (t) => {
  const setup = await httpFetch(`${gw}/api/auth/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: P, setupCode: setupCode(a) }) });
  t.equal(setup.status, 200);
  await b.page.goto(`${gw}/security`);
  await b.page.getByLabel('Passphrase').fill(P);
  await b.page.getByRole('button', { name: 'Sign in' }).click();
  await b.page.getByTestId('incidents-live').getByText('live').waitFor();
  const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
  const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
  const env = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', env, 5000);
  await cli.requestSubject('secai.cmd.registry.list', env, 5000).catch(() => undefined); // lint-ok: the replay is refused; that refusal is the cause
  await cli.close();
  const row = b.page.locator('tr[data-class="unauthorized_access"][data-state="contained"]');
  await row.waitFor({ timeout: 30_000 });
  id = (await row.getAttribute('data-incident'))!;
  t.equal(state(id), 'contained');
});

t.test('security origins — a page on another loopback port reads nothing and acts on nothing, even with the passphrase', async (t) => {
  await b.page.goto(`${evilUrl}/`);
  const seen = await b.page.evaluate(`(async ([gw, id, pass]) => {
    const out = {};
    const attempt = async (name, f) => { try { out[name] = await f(); } catch { out[name] = 'threw'; } };
    for (const [name, path] of [['list', '/api/incidents'], ['one', \`/api/incidents/\${id}\`], ['integrity', '/api/integrity/status'], ['attestation', '/api/attestation/status']]) {
      await attempt(name, async () => \`read:\${await (await fetch(gw + path, { credentials: 'include' })).text()}\`);
    }
    // Simple requests (text/plain, no preflight): the browser sends them; the gateway must refuse them unread.
    for (const act of ['ack', 'resolve']) {
      await attempt(act, async () => (await fetch(\`\${gw}/api/incidents/\${id}/\${act}\`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ passphrase: pass }) })).type);
    }
    out.events = await new Promise((resolve) => {
      const es = new EventSource(\`\${gw}/api/incidents/events\`, { withCredentials: true });
      es.onmessage = () => { es.close(); resolve('message'); };
      es.addEventListener('ready', () => { es.close(); resolve('ready'); });
      es.onerror = () => { es.close(); resolve('error'); };
    });
    // A form post into a hidden frame: the gateway's answer (a refusal) loads there, unreadable.
    const f = Object.assign(document.createElement('iframe'), { name: 'sink' });
    document.body.append(f);
    const form = Object.assign(document.createElement('form'), { method: 'POST', action: \`\${gw}/api/incidents/\${id}/ack\`, target: 'sink', enctype: 'text/plain' });
    form.append(Object.assign(document.createElement('input'), { name: '{"passphrase":"' + pass + '","x":"', value: '"}' }));
    document.body.append(form);
    const loaded = new Promise((r) => f.addEventListener('load', () => r('loaded'), { once: true }));
    form.submit();
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 20_000))]);
    await attempt('frame', async () => f.contentDocument?.body?.textContent ?? 'unreadable');
    return out;
  })(${JSON.stringify([gw, id, P])})`) as Record<string, string>;
  t.same(seen, { list: 'threw', one: 'threw', integrity: 'threw', attestation: 'threw', ack: 'threw', resolve: 'threw', events: 'error', frame: 'unreadable' }, 'nothing readable (even the opaque answers to the blind writes: cross-origin-resource-policy)');
  t.equal(state(id), 'contained', 'and nothing changed: the incident is still contained, not acknowledged');
});

t.test('security origins — the owner tab still reads and acts (the refusals were about origin, not a broken route)', async (t) => {
  await b.page.goto(`${gw}/security`);
  await b.page.locator(`tr[data-incident="${id}"]`).waitFor();
  const ack = async (pass: string) => await b.page.evaluate(`(async () => {
    const res = await fetch('/api/incidents/${id}/ack', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': sessionStorage.getItem('secai.csrf') ?? '' }, body: JSON.stringify({ passphrase: ${JSON.stringify(pass)} }) });
    return { status: res.status, body: await res.json() };
  })()`) as { status: number; body: { incident: { state: string } } };
  // One refusal of the owner's own (a wrong passphrase) marks where the chain has caught up: the attacker's attempts,
  // sent before it, would be in the chain before it had any reached auth.
  t.equal((await ack('a wrong passphrase')).status, 401);
  let refused: { handle: string; code: string }[] = [];
  for (const end = Date.now() + 30_000; refused.length === 0 && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    refused = a.ctl(['audit', 'tail', '-n', '300', '--subject', 'secai.evt.auth.incident_act_refused', '--json']).json().records.map((x: { payload: unknown }) => x.payload);
  }
  t.match(refused, [{ id, action: 'ack', code: 'SECAI_E_WRONG_PASSPHRASE' }], 'only the owner\'s refusal: no attempt from the other origin reached auth');
  t.equal(refused.length, 1);
  const r = await ack(P);
  t.equal(r.status, 200);
  t.equal(r.body.incident.state, 'acknowledged');
  await b.page.locator(`tr[data-incident="${id}"][data-state="acknowledged"]`).waitFor();
});
