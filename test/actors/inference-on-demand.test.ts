// Promoted models load on first use, as in Ollama (#13.8): listed by /v1/models and /api/tags before they
// are loaded, loaded by the first request (by name, with or without .gguf), unloaded after keep-alive.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack, TEST_POLICY } from '../helpers/inference-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-ondemand-'));
const path = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(path);
const messages = [{ role: 'user' as const, content: 'hello' }];

t.test('on demand — a promoted model is listed, loaded by its first request, and unloaded when idle', async (t) => {
  const stack = await startInferenceStack({ ...TEST_POLICY, load_on_demand: true, keep_alive_minutes: 0 });
  t.teardown(async () => { await stack.stop(); rmSync(dir, { recursive: true, force: true }); });
  stack.registry.set('tiny', { name: 'tiny', path, sha256 });

  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  t.same((await client.models.list()).data.map((m) => m.id), ['tiny'], '/v1/models lists the promoted model before any load');
  const tags = await (await fetch(`${stack.url}/api/tags`)).json() as { models: { name: string }[] };
  t.ok(tags.models.some((m) => m.name.startsWith('tiny')), '/api/tags too');
  t.same(stack.host.list(), [], 'nothing is loaded yet');

  // Two first requests at once, one by its file name: one worker starts.
  const [a, b] = await Promise.all([
    client.chat.completions.create({ model: 'tiny', messages, max_tokens: 4, temperature: 0 }),
    client.chat.completions.create({ model: 'tiny.gguf', messages, max_tokens: 4, temperature: 0 }),
  ]);
  t.equal(a.usage?.completion_tokens, 4, 'the first request was answered');
  t.equal(b.usage?.completion_tokens, 4, 'so was the one naming tiny.gguf');
  t.equal(stack.events.filter((e) => e.event === 'model_loaded').length, 1, 'one load for both');

  // keep_alive_minutes 0: unloaded once its last request is done, with the reason.
  for (let i = 0; i < 200 && stack.host.list().length; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(stack.host.list(), [], 'unloaded after its last request');
  t.match(stack.events.find((e) => e.event === 'model_unloaded')?.payload, { name: 'tiny', reason: /keep_alive_minutes/ });

  // Unknown names still fail cleanly; an explicit load pins the model (no idle unload).
  await t.rejects(client.chat.completions.create({ model: 'nope', messages, max_tokens: 2 }), /nope|not/);
  await stack.host.load('tiny');
  await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 2, temperature: 0 });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(stack.host.list().length, 1, 'a model loaded explicitly stays loaded');
});

t.test('on demand — off in policy: a model that is not loaded is not found and not listed', async (t) => {
  const stack = await startInferenceStack({ ...TEST_POLICY, load_on_demand: false });
  t.teardown(() => stack.stop());
  stack.registry.set('tiny', { name: 'tiny', path: join(dir, 'unused.gguf'), sha256 });
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  t.same((await client.models.list()).data, []);
  await t.rejects(client.chat.completions.create({ model: 'tiny', messages, max_tokens: 2 }), /not loaded/);
});
