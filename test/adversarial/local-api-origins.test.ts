// The local model API from the attacker's side: foreign web pages (real Chromium on another loopback port) and plain
// requests with forged browser headers cannot run generations; an allowlisted origin and the API token can.
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack, type InferenceStack } from '../helpers/inference-stack.js';
import { openBrowser } from '../helpers/browser.js';
import { authGuard } from '../../actors/gateway/auth-guard.js';
import type { LocalApiPolicy } from '../../actors/gateway/origin-check.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-local-api-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);

// The page the owner happens to open: served on another loopback port, as any local program could.
const ATTACK = `<!doctype html><meta charset="utf-8"><title>x</title><script src="/attack.js"></script>`;
const pageServer = createServer((req, res) => {
  if (req.url === '/attack.js') { res.writeHead(200, { 'content-type': 'text/javascript' }); res.end('window.ready = true;'); return; }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(ATTACK);
});
await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
const foreign = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;

// Mutable on purpose: the guard reads the policy on every request, so each subtest sets what it needs.
const policy: { -readonly [K in keyof LocalApiPolicy]: LocalApiPolicy[K] } = { allowed_origins: [], api_token_sha256: null };
let stack: InferenceStack;
t.before(async () => {
  stack = await startInferenceStack(undefined, { guard: (bus, port) => authGuard(bus, { port, localApi: policy }) });
  stack.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
  await stack.host.load('tiny');
});
const b = await openBrowser();
t.teardown(async () => {
  await b.close();
  await new Promise<void>((r) => pageServer.close(() => r()));
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const chatBody = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, temperature: 0 });
const ollamaChat = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 2 } });
const ollamaGen = JSON.stringify({ model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 2 } });
const JSON_TYPE = { 'content-type': 'application/json' };
const generations = () => JSON.stringify(stack.host.stats);

t.test('local api — plain requests with browser headers of another origin are refused before anything runs', async (t) => {
  policy.allowed_origins = []; policy.api_token_sha256 = null;
  const before = generations();
  const cases: [string, string, Record<string, string>, number, string][] = [
    ['/v1/chat/completions', chatBody, { ...JSON_TYPE, origin: foreign }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/v1/chat/completions', chatBody, { ...JSON_TYPE, origin: 'null' }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/v1/chat/completions', chatBody, { ...JSON_TYPE, 'sec-fetch-site': 'cross-site' }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/v1/chat/completions', chatBody, { ...JSON_TYPE, 'sec-fetch-site': 'same-site' }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/v1/chat/completions', chatBody, {}, 400, 'SECAI_E_BAD_MESSAGE'],
    ['/v1/chat/completions', chatBody, { 'content-type': 'text/plain' }, 400, 'SECAI_E_BAD_MESSAGE'],
    ['/v1/completions', JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens: 2 }), { 'content-type': 'text/plain;charset=UTF-8' }, 400, 'SECAI_E_BAD_MESSAGE'],
    ['/api/chat', ollamaChat, { ...JSON_TYPE, origin: foreign }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/api/chat', ollamaChat, {}, 400, 'SECAI_E_BAD_MESSAGE'],
    ['/api/generate', ollamaGen, { ...JSON_TYPE, 'sec-fetch-site': 'cross-site' }, 403, 'SECAI_E_CROSS_ORIGIN'],
    ['/api/generate', ollamaGen, { 'content-type': 'application/x-www-form-urlencoded' }, 400, 'SECAI_E_BAD_MESSAGE'],
    ['/api/secai/sessions/end', JSON.stringify({ user: 'x' }), { ...JSON_TYPE, origin: foreign }, 403, 'SECAI_E_CROSS_ORIGIN'],
  ];
  for (const [path, body, headers, status, code] of cases) {
    const r = await fetch(stack.url + path, { method: 'POST', headers, body });
    const text = await r.text();
    t.equal(r.status, status, `${path} ${JSON.stringify(headers)}: ${status}`);
    t.match(text, code, `${path}: ${code}`);
    t.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS grant');
  }
  for (const path of ['/v1/models', '/api/tags']) {
    t.equal((await fetch(stack.url + path, { headers: { origin: foreign } })).status, 403, `GET ${path} from a foreign origin`);
    t.equal((await fetch(stack.url + path, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403, `GET ${path} cross-site without Origin (an <img>)`);
  }
  const pre = await fetch(stack.url + '/v1/chat/completions', { method: 'OPTIONS', headers: { origin: foreign, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  t.equal(pre.status, 403, 'a preflight from a foreign origin is refused');
  t.equal(pre.headers.get('access-control-allow-origin'), null);
  t.equal(generations(), before, 'no generation started');
  // Programs (no Origin, no Sec-Fetch-Site) and the gateway's own page still work.
  const ok = await fetch(stack.url + '/v1/chat/completions', { method: 'POST', headers: JSON_TYPE, body: chatBody });
  t.equal(ok.status, 200, await ok.clone().text());
  const own = await fetch(stack.url + '/api/chat', { method: 'POST', headers: { ...JSON_TYPE, origin: stack.url, 'sec-fetch-site': 'same-origin' }, body: ollamaChat });
  t.equal(own.status, 200, 'our own origin');
});

t.test('local api — a real page on another loopback port cannot drive a generation (fetch, no-cors, form)', async (t) => {
  policy.allowed_origins = []; policy.api_token_sha256 = null;
  const before = generations();
  await b.page.goto(`${foreign}/`);
  await b.page.waitForFunction('window.ready === true');
  // A string, not a function: it runs in the page (DOM), and the test runner's transform must not touch it.
  const seen = await b.page.evaluate(`(async (api) => {
    const out = [];
    const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    // A "simple" request: no preflight, the browser sends it and hides the answer.
    try { const r = await fetch(\`\${api}/v1/chat/completions\`, { method: 'POST', mode: 'no-cors', body }); out.push(\`no-cors:\${r.type}\`); } catch { out.push(\`no-cors:threw\`); }
    // A Blob without a type: the browser sends the body with NO Content-Type at all, which the old parser took as JSON.
    try { await fetch(\`\${api}/v1/chat/completions\`, { method: 'POST', mode: 'no-cors', body: new Blob([body]) }); out.push('blob:sent'); } catch { out.push('blob:threw'); }
    try { await fetch(\`\${api}/api/generate\`, { method: 'POST', mode: 'no-cors', body: new Blob([JSON.stringify({ model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 2 } })]) }); out.push('ollama-blob:sent'); } catch { out.push('ollama-blob:threw'); }
    try { await fetch(\`\${api}/api/generate\`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ model: 'tiny', prompt: 'hi', options: { num_predict: 2 } }) }); out.push('ollama-no-cors:sent'); } catch { out.push('ollama-no-cors:threw'); }
    // With application/json the browser must ask first; the preflight is refused.
    try { const r = await fetch(\`\${api}/v1/chat/completions\`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }); out.push(\`cors:\${r.status}\`); } catch { out.push('cors:threw'); }
    try { const r = await fetch(\`\${api}/v1/models\`); out.push(\`read:\${r.status}\`); } catch { out.push('read:threw'); }
    // A form post into a hidden frame.
    const f = document.createElement('iframe');
    f.name = 'sink';
    document.body.append(f);
    const form = Object.assign(document.createElement('form'), { method: 'POST', action: \`\${api}/api/generate\`, target: 'sink', enctype: 'text/plain' });
    const input = Object.assign(document.createElement('input'), { name: '{"model":"tiny","prompt":"hi","x":"', value: '"}' });
    form.append(input);
    document.body.append(form);
    // The frame loads whatever the gateway answered (its error page): the request has been handled. Bounded all the same.
    const loaded = new Promise((r) => f.addEventListener('load', () => r('loaded'), { once: true }));
    form.submit();
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 20_000))]);
    out.push('form:sent');
    return out;
  })(${JSON.stringify(stack.url)})`) as string[];
  // no-cors requests are sent, and settle only once the gateway answered (Cross-Origin-Resource-Policy then hides even the opaque reply).
  t.same(seen, ['no-cors:threw', 'blob:threw', 'ollama-blob:threw', 'ollama-no-cors:threw', 'cors:threw', 'read:threw', 'form:sent'], 'requests left the page; none could be read');
  t.equal(generations(), before, 'and none of them started a generation');
});

t.test('local api — an allowlisted origin works from a real browser (CORS), others still do not', async (t) => {
  policy.allowed_origins = [foreign]; policy.api_token_sha256 = null;
  const reply = await b.page.evaluate(async (api) => {
    const r = await fetch(`${api}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, temperature: 0 }) });
    return { status: r.status, object: ((await r.json()) as { object?: string }).object };
  }, stack.url);
  t.same(reply, { status: 200, object: 'chat.completion' }, 'the allowlisted page reads its reply');
  const other = await fetch(stack.url + '/v1/chat/completions', { method: 'POST', headers: { ...JSON_TYPE, origin: 'http://127.0.0.1:1' }, body: chatBody });
  t.equal(other.status, 403, 'an origin not on the list is still refused');
  const pre = await fetch(stack.url + '/api/chat', { method: 'OPTIONS', headers: { origin: foreign, 'access-control-request-method': 'POST' } });
  t.equal(pre.status, 204);
  t.equal(pre.headers.get('access-control-allow-origin'), foreign, 'the preflight names exactly the allowlisted origin');
});

t.test('local api — with an API token in policy: without it or with a wrong one refused, with it served', async (t) => {
  const token = 'local-client-token-0123456789';
  policy.allowed_origins = []; policy.api_token_sha256 = createHash('sha256').update(token).digest('hex');
  const before = generations();
  for (const auth of [undefined, 'Bearer wrong-token', `Basic ${token}`, `Bearer ${token}x`, token]) {
    const r = await fetch(stack.url + '/v1/chat/completions', { method: 'POST', headers: { ...JSON_TYPE, ...(auth && { authorization: auth }) }, body: chatBody });
    t.equal(r.status, 401, `authorization ${auth ?? '(none)'}: 401`);
    t.match(await r.text(), 'SECAI_E_UNAUTHORIZED');
  }
  t.equal((await fetch(stack.url + '/api/tags')).status, 401, 'the model list too');
  t.equal((await fetch(stack.url + '/api/generate', { method: 'POST', headers: JSON_TYPE, body: ollamaGen })).status, 401, 'the Ollama routes too');
  t.equal(generations(), before, 'nothing ran');
  const ok = await fetch(stack.url + '/v1/chat/completions', { method: 'POST', headers: { ...JSON_TYPE, authorization: `Bearer ${token}` }, body: chatBody });
  t.equal(ok.status, 200);
  const gen = await fetch(stack.url + '/api/generate', { method: 'POST', headers: { ...JSON_TYPE, authorization: `Bearer ${token}` }, body: ollamaGen });
  t.equal(gen.status, 200);
  const foreignWithToken = await fetch(stack.url + '/v1/models', { headers: { origin: foreign, authorization: `Bearer ${token}` } });
  t.equal(foreignWithToken.status, 403, 'the token does not lift the origin check');
});
