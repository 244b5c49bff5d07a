// Hostile inputs to the OpenAI/Ollama routes and the inference bus ops: each is refused cleanly and changes nothing.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack, TEST_POLICY, type InferenceStack } from '../helpers/inference-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-inf-adv-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);
let stack: InferenceStack;
t.before(async () => {
  stack = await startInferenceStack();
  stack.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
  await stack.host.load('tiny');
});
t.teardown(async () => { await stack?.stop(); rmSync(dir, { recursive: true, force: true }); });

const post = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(stack.url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

t.test('inference api (adversarial) — malformed requests get 4xx in the API\'s own shape, nothing runs', async (t) => {
  const before = { ...stack.host.stats };
  const cases: [string, unknown, number, RegExp][] = [
    ['/v1/chat/completions', '{not json', 400, /JSON/],
    ['/v1/chat/completions', { model: 'tiny', messages: 'hello' }, 400, /messages/],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'root', content: 'x' }] }, 400, /role/],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] }, 400, /only text/],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: -1 }, 400, /max_tokens/],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }, 400, /temperature/],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], stop: Array(9).fill('a') }, 400, /stop/],
    ['/v1/chat/completions', { model: '../../etc/passwd', messages: [{ role: 'user', content: 'x' }] }, 400, /model|pattern|schema/i],
    ['/v1/completions', { model: 'tiny', prompt: { $ne: 1 } }, 400, /prompt/],
  ];
  for (const [path, body, status, msg] of cases) {
    const r = await post(path, body);
    t.equal(r.status, status, `${path} ${JSON.stringify(body).slice(0, 60)}`);
    const j = (await r.json()) as { error: { message: string; type: string; code: string } };
    t.match(j.error.message, msg);
    t.match(j.error.type, /invalid_request_error/);
  }
  const o = await post('/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], options: { num_predict: 'many' } });
  t.equal(o.status, 400);
  t.match(await o.json(), { error: /num_predict/ }, 'Ollama shape: error is a string');
  const ct = await post('/v1/chat/completions', 'model=tiny', { 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(ct.status, 400, 'form bodies are refused (no CSRF-able simple requests)');
  t.same(stack.host.stats, before, 'no generation started');
});

t.test('inference api (adversarial) — a streaming request for an unknown model fails before the stream starts', async (t) => {
  const r = await post('/v1/chat/completions', { model: 'ghost', messages: [{ role: 'user', content: 'x' }], stream: true });
  t.equal(r.status, 404);
  t.match(r.headers.get('content-type'), /application\/json/);
  const n = await post('/api/generate', { model: 'ghost', prompt: 'x' });
  t.equal(n.status, 404);
});

t.test('inference api (adversarial) — max_tokens above policy is clamped, not obeyed', async (t) => {
  const small = await startInferenceStack({ ...TEST_POLICY, max_tokens: 5 });
  t.teardown(() => small.stop());
  small.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
  await small.host.load('tiny');
  const r = await fetch(small.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'the', max_tokens: 100000, temperature: 0 }) });
  t.equal(r.status, 200);
  const j = (await r.json()) as { usage: { completion_tokens: number }; choices: { finish_reason: string }[] };
  t.equal(j.usage.completion_tokens, 5, 'policy inference.max_tokens = 5 wins');
  t.equal(j.choices[0]?.finish_reason, 'length');
});

t.test('inference api (adversarial) — a foreign Host header is refused (DNS rebinding)', async (t) => {
  const { request } = await import('node:http');
  const port = Number(new URL(stack.url).port);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/models', headers: { host: `evil.example:${port}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 421);
});

t.test('inference bus (adversarial) — another requester cannot cancel with a guessed id, and a reused id is refused', async (t) => {
  t.equal(stack.host.cancel('not-a-real-request-id'), false);
  const a = stack.host.generate('tiny', { mode: 'completion', prompt: 'the', maxTokens: 200, temperature: 1 }, () => {}, { requestId: 'same-id-0123456789' });
  await t.rejects(stack.host.generate('tiny', { mode: 'completion', prompt: 'x', maxTokens: 2, temperature: 0 }, () => {}, { requestId: 'same-id-0123456789' }), { code: 'SECAI_E_INVALID_STATE' });
  await a;
});
