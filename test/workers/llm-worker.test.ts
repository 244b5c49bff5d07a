import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmWorker } from '../../workers/llm/client.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-llm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'tiny.gguf');
const sha = writeTinyLlama(model);

function worker(t: { teardown(fn: () => void): void }, path = model): LlmWorker {
  const w = new LlmWorker({ readOnly: [path] });
  t.teardown(() => w.kill());
  return w;
}

t.test('llm worker — loads a verified model in the sandbox and streams a chat and a completion', async (t) => {
  const w = worker(t);
  t.ok(w.sandboxed, 'sandboxed');
  const info = await w.load({ modelPath: model, sha256: sha, threads: 1 });
  t.equal(info.architecture, 'llama');
  t.equal(info.threads, 1, 'threads set explicitly');
  t.ok(info.gpu === false || typeof info.gpu === 'string', `gpu reported: ${info.gpu}`);
  const chunks: string[] = [];
  const r = await w.generate('c1', { mode: 'chat', messages: [{ role: 'user', content: 'hello' }], maxTokens: 12, temperature: 0 }, (x) => chunks.push(x));
  t.ok(chunks.length > 0, 'tokens were streamed');
  t.equal(r.usage.completionTokens, 12);
  t.equal(r.finishReason, 'length');
  const again: string[] = [];
  await w.generate('c2', { mode: 'chat', messages: [{ role: 'user', content: 'hello' }], maxTokens: 12, temperature: 0 }, (x) => again.push(x));
  t.equal(again.join(''), chunks.join(''), 'temperature 0 is reproducible');
  const comp: string[] = [];
  const r2 = await w.generate('p1', { mode: 'completion', prompt: 'the world', maxTokens: 8, temperature: 0.8, seed: 1 }, (x) => comp.push(x));
  t.equal(r2.usage.completionTokens, 8);
  await w.stop();
  t.notOk(w.alive);
});

t.test('llm worker — a model whose bytes differ from the registry hash is refused before loading', async (t) => {
  const w = worker(t);
  const other = 'f'.repeat(64);
  await t.rejects(w.load({ modelPath: model, sha256: other, threads: 1 }), { code: 'SECAI_E_DIGEST_MISMATCH' });
});

t.test('llm worker — a GGUF missing hyperparameters is a clean MODEL_INVALID error, not an abort', async (t) => {
  for (const key of ['llama.feed_forward_length', 'llama.attention.head_count']) {
    const bad = join(dir, `bad-${key}.gguf`);
    const badSha = writeTinyLlama(bad, { omit: [key] });
    const w = worker(t, bad);
    await t.rejects(w.load({ modelPath: bad, sha256: badSha, threads: 1 }), { code: 'SECAI_E_MODEL_INVALID', message: new RegExp(key.replace(/\./g, '\\.')) }, key);
  }
  const { createHash } = await import('node:crypto');
  const whole = readFileSync(model);
  for (const [name, bytes] of [['junk', Buffer.from('not a GGUF file at all, just text')], ['truncated', whole.subarray(0, 600)]] as const) {
    const junk = join(dir, `${name}.gguf`);
    writeFileSync(junk, bytes);
    const w = worker(t, junk);
    await t.rejects(w.load({ modelPath: junk, sha256: createHash('sha256').update(bytes).digest('hex'), threads: 1 }), { code: 'SECAI_E_MODEL_INVALID' }, name);
  }
});

t.test('llm worker — cancellation stops a generation early; a killed worker fails its request cleanly', async (t) => {
  const w = worker(t);
  await w.load({ modelPath: model, sha256: sha, threads: 1 });
  let n = 0;
  const r = await w.generate('long', { mode: 'completion', prompt: 'the', maxTokens: 1500, temperature: 0.9, seed: 3 }, () => { if (++n === 3) w.cancel('long'); });
  t.equal(r.finishReason, 'cancelled');
  t.ok(r.usage.completionTokens < 1500, `stopped after ${r.usage.completionTokens} tokens`);

  let m = 0;
  const dying = w.generate('doomed', { mode: 'completion', prompt: 'the', maxTokens: 1500, temperature: 0.9, seed: 4 }, () => { if (++m === 3) w.kill(); });
  await t.rejects(dying, { code: 'SECAI_E_WORKER_CRASHED' });
  t.notOk(w.alive);
  await t.rejects(w.generate('after', { mode: 'completion', prompt: 'x', maxTokens: 2, temperature: 0 }, () => {}), { code: 'SECAI_E_WORKER_CRASHED' });
});
