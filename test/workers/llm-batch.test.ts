import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmWorker, type BatchInput } from '../../workers/llm/client.js';
import type { BatchItem, BatchItemResult } from '../../workers/protocol.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-batch-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'tiny.gguf');
const sha = writeTinyLlama(model);

async function loaded(t: { teardown(fn: () => void): void }, sequences: number): Promise<LlmWorker> {
  const w = new LlmWorker({ readOnly: [model] });
  t.teardown(() => w.kill());
  const info = await w.load({ modelPath: model, sha256: sha, threads: 1, contextSize: 1024, sequences });
  if (info.sequences !== sequences) throw new Error(`asked ${sequences} sequences, got ${info.sequences}`);
  return w;
}

async function run(w: LlmWorker, id: string, input: BatchInput): Promise<Map<string, BatchItemResult>> {
  const out = new Map<string, BatchItemResult>();
  await w.batch(id, input, (r) => out.set(r.item, r));
  return out;
}

const ITEMS: BatchItem[] = ['hello', 'the world', 'is it safe?', 'a model', 'ok then', 'what is this'].map((q, i) => ({
  id: `q${i}`, messages: [{ role: 'user', content: q }], maxTokens: 6 + 3 * i,
}));

t.test('llm batch — items over 3 sequences of one context give exactly what one sequence gives, each within its own cap', async (t) => {
  const serial = await run(await loaded(t, 1), 's', { items: ITEMS, temperature: 0, seed: 0 });
  const w = await loaded(t, 3);
  const parallel = await run(w, 'p', { items: ITEMS, temperature: 0, seed: 0 });
  t.same([...parallel.keys()].sort(), ITEMS.map((i) => i.id).sort(), 'one answer per item');
  for (const item of ITEMS) {
    const a = serial.get(item.id)!;
    const b = parallel.get(item.id)!;
    t.equal(b.text, a.text, `${item.id}: same text`);
    t.equal(b.usage.completionTokens, a.usage.completionTokens, `${item.id}: same token count`);
    t.ok(b.usage.completionTokens <= item.maxTokens, `${item.id}: ${b.usage.completionTokens} ≤ cap ${item.maxTokens}`);
    t.equal(b.finishReason === 'length', b.usage.completionTokens === item.maxTokens, `${item.id}: 'length' exactly when the cap was reached`);
  }
  t.ok(ITEMS.some((i) => parallel.get(i.id)!.finishReason === 'length'), 'some items ran into their cap');
  // A batch leaves the context as it found it: a plain generation still gets a sequence.
  const r = await w.generate('after', { mode: 'chat', messages: [{ role: 'user', content: 'hello' }], maxTokens: 4, temperature: 0 }, () => {});
  t.equal(r.usage.completionTokens, 4);
});

t.test('llm batch — early stop ends a probe on the chunk where its hit became certain, with fewer tokens', async (t) => {
  const w = await loaded(t, 2);
  const item: BatchItem = { id: 'probe', messages: [{ role: 'user', content: 'hello' }], maxTokens: 40 };
  const full = (await run(w, 'full', { items: [item], temperature: 0 })).get('probe')!;
  t.equal(full.usage.completionTokens, 40, 'without early stop the probe runs to its cap');
  // The model's own opening words, planted as an injection marker: the hit is certain once they are out.
  const marker = full.text.slice(0, 3);
  t.ok(marker.trim().length > 0 && full.text.length > 12, `the tiny model answers with text (${JSON.stringify(full.text.slice(0, 20))}…)`);
  const stopped = (await run(w, 'early', { items: [{ ...item, earlyStop: { marker } }], temperature: 0 })).get('probe')!;
  t.equal(stopped.stoppedEarly, true);
  t.equal(stopped.finishReason, 'stop');
  t.ok(stopped.usage.completionTokens < full.usage.completionTokens, `stopped after ${stopped.usage.completionTokens} of ${full.usage.completionTokens} tokens`);
  t.ok(full.text.startsWith(stopped.text) && stopped.text.toLowerCase().includes(marker.toLowerCase()), 'the text returned is the prefix that holds the hit');
  // A context that never matches changes nothing.
  const never = (await run(w, 'never', { items: [{ ...item, earlyStop: { marker: 'NEVER-SAID-0000' } }], temperature: 0 })).get('probe')!;
  t.equal(never.stoppedEarly, false);
  t.equal(never.text, full.text);
});

t.test('llm batch — a malformed batch is answered WORKER_PROTOCOL under its own id, and the worker carries on', async (t) => {
  const w = await loaded(t, 2);
  const ok: BatchItem = { id: 'a', messages: [{ role: 'user', content: 'hi' }], maxTokens: 2 };
  const bad: [string, unknown][] = [
    ['no items', { items: [], temperature: 0 }],
    ['empty messages', { items: [{ ...ok, messages: [] }], temperature: 0 }],
    ['zero tokens', { items: [{ ...ok, maxTokens: 0 }], temperature: 0 }],
    ['fractional tokens', { items: [{ ...ok, maxTokens: 2.5 }], temperature: 0 }],
    ['duplicate ids', { items: [ok, ok], temperature: 0 }],
    ['bad role', { items: [{ ...ok, messages: [{ role: 'root', content: 'x' }] }], temperature: 0 }],
    ['negative temperature', { items: [ok], temperature: -1 }],
    ['early stop not an object', { items: [{ ...ok, earlyStop: 'yes' }], temperature: 0 }],
    ['items not a list', { items: { a: ok }, temperature: 0 }],
  ];
  for (const [name, input] of bad) {
    await t.rejects(w.batch(`bad-${name}`, input as BatchInput, () => t.fail('no item for a malformed batch')), { code: 'SECAI_E_WORKER_PROTOCOL' }, name);
  }
  t.ok(w.alive, 'the worker is still running');
  const r = await run(w, 'good', { items: [ok], temperature: 0 });
  t.equal(r.get('a')?.usage.completionTokens, 2, 'and answers the next good batch');
});

t.test('llm batch — a batch before any model is loaded is answered NOT_READY under its id', async (t) => {
  const w = new LlmWorker({ readOnly: [model] });
  t.teardown(() => w.kill());
  await t.rejects(w.batch('early', { items: [{ id: 'a', messages: [{ role: 'user', content: 'hi' }], maxTokens: 2 }], temperature: 0 }, () => {}), { code: 'SECAI_E_NOT_READY' });
});

t.test('llm batch — a chat that does not fit its sequence fails the batch (CONTEXT_OVERFLOW) instead of losing its first turns', async (t) => {
  const w = new LlmWorker({ readOnly: [model] });
  t.teardown(() => w.kill());
  const info = await w.load({ modelPath: model, sha256: sha, threads: 1, contextSize: 256, sequences: 2 });
  t.equal(info.contextSize, 256);
  // Byte-level vocabulary: one token per character, so 600 characters cannot fit in 256 tokens.
  const long: BatchItem = { id: 'long', messages: [{ role: 'system', content: 'CANARY-1 '.repeat(10) }, { role: 'user', content: 'x'.repeat(600) }], maxTokens: 4 };
  await t.rejects(w.batch('too-long', { items: [long], temperature: 0 }, () => {}), { code: 'SECAI_E_CONTEXT_OVERFLOW', message: /item long does not fit/ });
  // A prompt that fits but whose tokens would run past the end fails the same way.
  const grows: BatchItem = { id: 'grows', messages: [{ role: 'user', content: 'y'.repeat(150) }], maxTokens: 200 };
  await t.rejects(w.batch('too-many', { items: [grows], temperature: 0 }, () => {}), { code: 'SECAI_E_CONTEXT_OVERFLOW' });
  const r = await run(w, 'fits', { items: [{ id: 'ok', messages: [{ role: 'user', content: 'hello' }], maxTokens: 4 }], temperature: 0 });
  t.equal(r.get('ok')?.usage.completionTokens, 4, 'the worker carries on');
});
