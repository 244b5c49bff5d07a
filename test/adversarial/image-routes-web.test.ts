// The image routes from the attacker's side, behind the gateway's real auth guard and the real auth actor: a foreign
// Origin, a cross-site request, the cookie without its proof, or no cookie at all cannot generate, cancel, list, read or
// delete; a page on another loopback port (real Chromium) can neither embed a gallery image nor run a generation; the
// local API's token, when policy sets one, is needed for /v1/images/generations and for a gallery image's url.
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authGuard } from '../../actors/gateway/auth-guard.js';
import type { LocalApiPolicy } from '../../actors/gateway/origin-check.js';
import { authRoutes } from '../../actors/gateway/routes/auth.js';
import { openBrowser } from '../helpers/browser.js';
import { startDiffusionStack, STACK_PASSPHRASE, TINY_SD_NAME } from '../helpers/diffusion-stack.js';

t.setTimeout(240_000);
// Mutable on purpose: the guard reads the policy on every request, so each subtest sets what it needs.
const localApi: { -readonly [K in keyof LocalApiPolicy]: LocalApiPolicy[K] } = { allowed_origins: [], api_token_sha256: null };
const stack = await startDiffusionStack({ actors: ['auth'], guard: (gw, port) => authGuard(gw, { port, localApi }), routes: (deps) => authRoutes(deps) });
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
  await stack.stop();
});

// The owner signs in (the vault the stack set up holds the passphrase): a cookie and this tab's proof.
const login = await fetch(`${stack.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: STACK_PASSPHRASE }) });
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
const { csrf } = (await login.json()) as { csrf: string };
const owner = { cookie, 'x-csrf-token': csrf };
const JSON_TYPE = { 'content-type': 'application/json' };
const generated = () => stack.events.filter((e) => e.event === 'generated').length;
const body = { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 1, guidance: 5, save: true };

async function send(method: string, path: string, headers: Record<string, string>, data?: unknown) {
  const r = await fetch(`${stack.url}${path}`, { method, headers: { ...(data !== undefined && JSON_TYPE), ...headers }, ...(data !== undefined && { body: JSON.stringify(data) }) });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, code: /"code":"([A-Z_]+)"/.exec(text)?.[1] };
}

/** One image in the gallery, made by the owner, to be read and deleted (or not) by the others. */
const made = await send('POST', '/v1/images/generations', {}, { model: TINY_SD_NAME, prompt: 'kept', size: '64x64', steps: 1, response_format: 'url' });
const imageId = (JSON.parse(made.text) as { data: { url: string }[] }).data[0]!.url.split('/').pop()!;
const SESSION_ROUTES: [string, string, unknown][] = [
  ['POST', '/api/images/generate', body], ['POST', '/api/images/cancel', { requestId: 'A'.repeat(22) }], ['GET', '/api/images/models', undefined],
  ['GET', '/api/gallery', undefined], ['DELETE', `/api/gallery/${imageId}`, undefined],
];

t.test('image routes — the owner\'s own requests work (the premise)', async (t) => {
  t.equal(made.status, 200, 'an image was stored');
  t.equal((await send('GET', '/api/images/models', owner)).status, 200);
  t.equal((await send('GET', '/api/gallery', owner)).status, 200);
  t.equal((await send('GET', `/api/gallery/${imageId}`, owner)).type, 'image/png');
});

t.test('image routes — a foreign Origin or a cross-site request is refused on every route, even with the cookie and the proof', async (t) => {
  const before = generated();
  const forged: Record<string, string>[] = [
    { ...owner, origin: evilUrl }, { ...owner, origin: 'null' }, { ...owner, 'sec-fetch-site': 'cross-site' }, { ...owner, 'sec-fetch-site': 'same-site' },
  ];
  for (const h of forged) {
    for (const [m, path, data] of [...SESSION_ROUTES, ['GET', `/api/gallery/${imageId}`, undefined], ['POST', '/v1/images/generations', { model: TINY_SD_NAME, prompt: 'x', size: '64x64', steps: 1 }], ['POST', '/api/secai/images/generate', body]] as const) {
      const r = await send(m, path, h, data);
      t.equal(r.status, 403, `${m} ${path} with ${JSON.stringify(h).replace(csrf, 'PROOF').slice(-60)}: 403`);
      t.equal(r.code, 'SECAI_E_CROSS_ORIGIN');
    }
  }
  t.equal(generated(), before, 'nothing was generated');
  t.equal((await send('GET', `/api/gallery/${imageId}`, owner)).status, 200, 'nothing was deleted');
});

t.test('image routes — the cookie without its proof (or with another) is nothing; no cookie is 401', async (t) => {
  const before = generated();
  for (const [m, path, data] of SESSION_ROUTES) {
    const noProof = await send(m, path, { cookie }, data);
    t.equal(noProof.status, 403, `${m} ${path}: cookie alone, 403`);
    t.equal(noProof.code, 'SECAI_E_CSRF');
    t.equal((await send(m, path, { cookie, 'x-csrf-token': 'A'.repeat(43) }, data)).status, 403, `${m} ${path}: a wrong proof, 403`);
    t.equal((await send(m, path, { 'x-csrf-token': csrf }, data)).status, 401, `${m} ${path}: the proof without the cookie, 401`);
  }
  t.equal(generated(), before, 'nothing was generated');
  t.equal((await send('GET', `/api/gallery/${imageId}`, owner)).status, 200, 'nothing was deleted');
});

t.test('image routes — the local API: JSON bodies only, and the token when policy sets one (the url of a gallery image too)', async (t) => {
  const before = generated();
  for (const path of ['/v1/images/generations', '/api/secai/images/generate']) {
    const r = await fetch(`${stack.url}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ model: TINY_SD_NAME, prompt: 'x' }) });
    t.equal(r.status, 400, `${path}: a text/plain body (what a form or a no-cors fetch sends) is refused`);
  }
  const token = 'local-api-token-of-this-test';
  localApi.api_token_sha256 = createHash('sha256').update(token).digest('hex');
  t.teardown(() => { localApi.api_token_sha256 = null; });
  const v1 = { model: TINY_SD_NAME, prompt: 'x', size: '64x64', steps: 1 };
  t.equal((await send('POST', '/v1/images/generations', {}, v1)).status, 401, 'no token: 401');
  t.equal((await send('POST', '/v1/images/generations', { authorization: 'Bearer wrong' }, v1)).status, 401);
  t.equal((await send('POST', '/api/secai/images/generate', {}, body)).status, 401);
  t.equal((await send('GET', `/api/gallery/${imageId}`, {})).status, 401, 'a gallery url without the token: 401');
  t.equal(generated(), before, 'nothing was generated');
  t.equal((await send('POST', '/v1/images/generations', { authorization: `Bearer ${token}` }, v1)).status, 200, 'with the token');
  t.equal((await send('GET', `/api/gallery/${imageId}`, { authorization: `Bearer ${token}` })).type, 'image/png', 'the url with the token');
  t.equal((await send('GET', `/api/gallery/${imageId}`, owner)).type, 'image/png', 'our own page shows its session instead');
});

t.test('image routes — a page on another loopback port can neither embed a gallery image nor run a generation', async (t) => {
  const before = generated();
  await b.page.goto(`${evilUrl}/`);
  const seen = await b.page.evaluate(`(async ([gw, id]) => {
    const out = {};
    const attempt = async (name, f) => { try { out[name] = await f(); } catch { out[name] = 'threw'; } };
    out.img = await new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve('loaded');
      img.onerror = () => resolve('error');
      img.src = gw + '/api/gallery/' + id;
    });
    await attempt('gallery', async () => 'read:' + (await fetch(gw + '/api/gallery', { credentials: 'include' })).status);
    await attempt('v1', async () => 'read:' + (await fetch(gw + '/v1/images/generations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: ${JSON.stringify(TINY_SD_NAME)}, prompt: 'x', size: '64x64', steps: 1 }) })).status);
    await attempt('stream', async () => (await fetch(gw + '/api/images/generate', { method: 'POST', mode: 'no-cors', credentials: 'include', body: JSON.stringify(${JSON.stringify(body)}) })).type);
    await attempt('local', async () => (await fetch(gw + '/api/secai/images/generate', { method: 'POST', mode: 'no-cors', body: JSON.stringify(${JSON.stringify(body)}) })).type);
    return out;
  })(${JSON.stringify([stack.url, imageId])})`) as Record<string, string>;
  t.same(seen, { img: 'error', gallery: 'threw', v1: 'threw', stream: 'threw', local: 'threw' }, 'nothing readable (cross-origin-resource-policy blocks even the opaque answers)');
  t.equal(generated(), before, 'and nothing ran');
});
