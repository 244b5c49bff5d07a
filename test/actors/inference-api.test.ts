import t, { type Test } from 'tap';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack, type InferenceStack } from '../helpers/inference-stack.js';
import { until } from '../helpers/until.js';
import { processTree, signalTree } from '../helpers/proc-tree.js';
import { runChat } from '../../bin/chat.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { ErrorCode, SecaiError } from '../../common/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-inf-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);
let stack: InferenceStack;

t.before(async () => {
  stack = await startInferenceStack();
  stack.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
  await stack.host.load('tiny');
});
t.teardown(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'hello' }];

/**
 * Stops the worker's whole sandbox tree the moment the host receives its first token, so the tiny model cannot finish
 * its context before the test acts on a loaded machine (it did, and streams ended normally). Undone at teardown.
 */
function holdAtFirstToken(t: Test, pid: number): { tree: number[]; held: () => boolean } {
  const host = stack.host;
  const generate = host.generate.bind(host);
  const tree = processTree(pid);
  let held = false;
  host.generate = (model, input, onToken, o) => generate(model, input, (text) => {
    if (!held) { held = true; signalTree(tree, 'SIGSTOP'); }
    onToken(text);
  }, o);
  t.teardown(() => { host.generate = generate; signalTree(tree, 'SIGCONT'); });
  return { tree, held: () => held };
}

/** The incident's containment as inference's evict op runs it: the tiny model's bytes, with the suspension's error. */
const evictTiny = () => stack.host.evict(new Set([sha256]), new SecaiError(ErrorCode.MODEL_SUSPENDED, 'the model was evicted: suspended by incident inc-test (test)'));

/** After an eviction: the old worker is gone, and the model is loaded again for the rest of this file. */
async function reloadAfterEviction(pid: number): Promise<void> {
  await until('the evicted worker to be gone', () => { try { process.kill(pid, 0); return false; } catch { return true; } });
  await stack.host.load('tiny');
}

t.test('inference api — the official openai client: models, chat (plain and streamed), completions, error shape', async (t) => {
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  const models = await client.models.list();
  t.same(models.data.map((m) => m.id), ['tiny']);

  const plain = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10, temperature: 0 });
  t.equal(plain.object, 'chat.completion');
  t.equal(plain.choices[0]?.message.role, 'assistant');
  t.equal(plain.choices[0]?.finish_reason, 'length');
  t.equal(plain.usage?.completion_tokens, 10);
  const text = plain.choices[0]?.message.content ?? '';
  t.ok(text.length > 0, 'some text came back');

  const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10, temperature: 0, stream: true });
  let streamed = '';
  let chunks = 0;
  let finish: string | null | undefined;
  for await (const c of stream) {
    chunks++;
    streamed += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  t.ok(chunks > 2, `streamed in ${chunks} chunks`);
  t.equal(streamed, text, 'streamed text equals the plain answer at temperature 0');
  t.equal(finish, 'length');

  const comp = await client.completions.create({ model: 'tiny', prompt: 'the world', max_tokens: 6, temperature: 0 });
  t.equal(comp.object, 'text_completion');
  t.equal(comp.usage?.completion_tokens, 6);

  const err = await client.chat.completions.create({ model: 'nope', messages }).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.NotFoundError, 'unknown model is a 404 in OpenAI shape');
  t.match((err as InstanceType<typeof OpenAI.APIError>).error, { code: 'SECAI_E_MODEL_NOT_LOADED', type: 'not_found_error' });
  const bad = await client.chat.completions.create({ model: 'tiny', messages: [] }).catch((e: unknown) => e);
  t.ok(bad instanceof OpenAI.BadRequestError, 'empty messages is a 400');
});

t.test('inference api — the official ollama client: tags, chat and generate, streamed (NDJSON) and not', async (t) => {
  const ollama = new Ollama({ host: stack.url });
  const tags = await ollama.list();
  t.same(tags.models.map((m) => m.name), ['tiny']);
  t.equal(tags.models[0]?.digest, sha256);

  const chat = await ollama.chat({ model: 'tiny', messages, stream: false, options: { num_predict: 8, temperature: 0 } });
  t.equal(chat.done, true);
  t.equal(chat.eval_count, 8);
  const parts: string[] = [];
  for await (const p of await ollama.chat({ model: 'tiny', messages, stream: true, options: { num_predict: 8, temperature: 0 } })) {
    if (!p.done) parts.push(p.message.content);
    else t.equal(p.done_reason, 'length');
  }
  t.ok(parts.length > 1, `streamed ${parts.length} lines`);
  t.equal(parts.join(''), chat.message.content);

  const gen = await ollama.generate({ model: 'tiny', prompt: 'the', raw: true, stream: false, options: { num_predict: 5, temperature: 0 } });
  t.equal(gen.eval_count, 5);
  let n = 0;
  for await (const p of await ollama.generate({ model: 'tiny', prompt: 'hello', stream: true, options: { num_predict: 5, temperature: 0 } })) if (!p.done) n++;
  t.ok(n > 0);
  const err = await ollama.chat({ model: 'nope', messages, stream: false }).catch((e: unknown) => e);
  t.match(err, { status_code: 404, error: /not loaded/ }, 'unknown model is a 404 in Ollama shape');
});

t.test('inference api — killing the worker mid-stream gives a clean error, and the next request works', async (t) => {
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  const pid = (stack.host.list()[0]?.['info'] as { pid: number }).pid;
  t.ok(pid > 0, 'the worker has a pid');
  const hold = holdAtFirstToken(t, pid);
  const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 3000, temperature: 1, seed: 5, stream: true });
  let got = 0;
  const err = await (async () => {
    for await (const _ of stream) {
      if (++got === 1) process.kill(pid, 'SIGKILL'); // the sandbox dies; the stopped worker in it with it (die-with-parent)
    }
  })().catch((e: unknown) => e);
  t.ok(hold.held(), 'the worker was held after its first token');
  t.ok(err instanceof Error, 'the client sees an error, not a truncated success');
  t.match(String((err as Error).message), /worker/i);
  const after = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 4, temperature: 0 });
  t.equal(after.usage?.completion_tokens, 4, 'a fresh worker answered');
  t.not((stack.host.list()[0]?.['info'] as { pid: number }).pid, pid, 'it is a new process');
  t.ok(stack.events.some((e) => e.event === 'model_loaded' && e.payload['sandboxed'] === true && Number(e.payload['threads']) > 0), 'loads are reported, with sandbox and threads');
});

t.test('inference api — a client that disconnects cancels its generation', async (t) => {
  // Deterministic: the worker is stopped (SIGSTOP) before the request reaches it, so the tiny model cannot write its
  // whole context before the disconnect is seen. The client leaves, and only once the gateway's cancel has reached
  // the host is the worker let go: it must end that generation as cancelled, not finish it.
  const host = stack.host;
  const pid = (host.list()[0]?.['info'] as { pid: number }).pid;
  const generate = host.generate.bind(host);
  const cancel = host.cancel.bind(host);
  let queued = false;
  let cancelFound: boolean | undefined;
  host.generate = (...a) => { const p = generate(...a); queued = true; return p; };
  host.cancel = (id) => (cancelFound = cancel(id));
  t.teardown(() => { host.generate = generate; host.cancel = cancel; });
  const before = { ...host.stats };
  const tree = processTree(pid); // the worker itself runs inside its sandbox, a child of `pid`
  t.ok(tree.length > 1, `the sandbox and the worker in it: ${tree.join(', ')}`);
  signalTree(tree, 'SIGSTOP');
  try {
    const ac = new AbortController();
    const client = fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify({ model: 'tiny', messages, max_tokens: 3000, temperature: 1, stream: true }),
    }).then((res) => res.text()).catch((e: unknown) => e);
    await until('the generation to be queued at the host', () => queued);
    ac.abort();
    const gaveUp = await client;
    t.ok(gaveUp instanceof Error, `the client gave up (${String(gaveUp).slice(0, 300)})`);
    await until('the gateway to pass the disconnect on as a cancel', () => cancelFound !== undefined);
    t.equal(cancelFound, true, 'the host still had the generation to cancel');
  } finally {
    signalTree(tree, 'SIGCONT');
  }
  await until('the generation to end', () => host.stats.cancelled + host.stats.completed + host.stats.failed > before.cancelled + before.completed + before.failed);
  t.same(host.stats, { ...before, cancelled: before.cancelled + 1 }, 'it ended cancelled, not completed');
  const openai = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  const after = await openai.chat.completions.create({ model: 'tiny', messages, max_tokens: 3, temperature: 0 });
  t.equal(after.usage?.completion_tokens, 3, 'the same worker answers the next request');
  t.equal((host.list()[0]?.['info'] as { pid: number }).pid, pid);
});

t.test('inference api — an eviction (incident containment) ends a streaming generation with SECAI_E_MODEL_SUSPENDED', async (t) => {
  // Deterministic like the disconnect test: the worker is stopped while the streamed request reaches the host, the
  // model is evicted, and the client must see the suspension (never a quiet end or a cancel), with the model unloaded.
  const host = stack.host;
  const pid = (host.list()[0]?.['info'] as { pid: number }).pid;
  const generate = host.generate.bind(host);
  let queued = false;
  host.generate = (...a) => { const p = generate(...a); queued = true; return p; };
  t.teardown(() => { host.generate = generate; });
  const tree = processTree(pid);
  signalTree(tree, 'SIGSTOP');
  let eviction: ReturnType<typeof evictTiny> | undefined;
  let body: string;
  try {
    const client = fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages, max_tokens: 3000, temperature: 1, stream: true }),
    }).then(async (res) => `${res.status} ${await res.text()}`);
    await until('the generation to be queued at the host', () => queued);
    // The generation is failed at once; the unload then waits for the stopped worker, so it is let go first.
    eviction = evictTiny();
    body = await client;
  } finally {
    signalTree(tree, 'SIGCONT');
  }
  t.same(await eviction, { evicted: ['tiny'], cancelled: 1 });
  t.match(body, /SECAI_E_MODEL_SUSPENDED/, `the client sees the suspension: ${body.slice(0, 300)}`);
  t.notMatch(body, /"finish_reason":"(stop|length)"/, 'not a normal end');
  t.same(host.list().map((m) => m['name']), [], 'the model is unloaded');
  await reloadAfterEviction(pid);
});

t.test('inference api — an eviction in the middle of a stream ends it with an SECAI_E_MODEL_SUSPENDED error event', async (t) => {
  // Tokens are already out (status 200 sent): the worker is held at its first token, the model evicted, and the
  // stream must end with the error, not with a finish_reason or [DONE] alone.
  const pid = (stack.host.list()[0]?.['info'] as { pid: number }).pid;
  const hold = holdAtFirstToken(t, pid);
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages, max_tokens: 3000, temperature: 1, stream: true }),
  });
  t.equal(res.status, 200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  while (!text.includes('"delta"')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  t.match(text, /"delta"/, 'a first chunk came');
  t.ok(hold.held(), 'the worker is held mid-generation');
  let eviction: ReturnType<typeof evictTiny> | undefined;
  try {
    eviction = evictTiny();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } finally {
    signalTree(hold.tree, 'SIGCONT');
  }
  t.same(await eviction, { evicted: ['tiny'], cancelled: 1 });
  const last = text.split('\n').filter((l) => l.startsWith('data:')).pop() ?? '';
  t.match(last, /^data: \{"error":.*"code":"SECAI_E_MODEL_SUSPENDED"/, `the stream's last event is the suspension: ${text.slice(-300)}`);
  t.notMatch(text, /"finish_reason":"(stop|length)"/, 'not a normal end');
  await reloadAfterEviction(pid);
});

t.test('inference api — a model whose file changed after promotion refuses to load and is reported', async (t) => {
  const p = join(dir, 'changed.gguf');
  const sha = writeTinyLlama(p, { seed: 9 });
  stack.registry.set('changed', { name: 'changed', path: p, sha256: sha });
  appendFileSync(p, Buffer.from('tampered'));
  await t.rejects(stack.host.load('changed'), { code: 'SECAI_E_DIGEST_MISMATCH' });
  const ev = stack.events.find((e) => e.event === 'model_refused');
  t.match(ev?.payload, { name: 'changed', code: 'SECAI_E_DIGEST_MISMATCH' });
  t.same(stack.host.list().map((m) => m['name']), ['tiny'], 'nothing was loaded');
});

t.test('securectl chat — one message over the HTTP API; the session end restarts the worker (policy)', async (t) => {
  const home = join(dir, 'home');
  mkdirSync(join(home, 'run'), { recursive: true });
  writeFileSync(join(home, 'run', 'http.url'), stack.url + '\n');
  const pid = (stack.host.list()[0]?.['info'] as { pid: number }).pid;
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const code = await runChat({ message: 'hello', json: true, env: { SECAI_HOME: home }, output: out, model: 'tiny', maxTokens: 8 });
  t.equal(code, 0);
  const reply = JSON.parse(text) as { model: string; reply: string };
  t.equal(reply.model, 'tiny');
  t.ok(reply.reply.length > 0);
  let now = pid;
  for (let i = 0; i < 100 && (now === pid || !now); i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = (stack.host.list()[0]?.['info'] as { pid: number } | null)?.pid ?? 0;
  }
  t.not(now, pid, 'a fresh worker serves the next session');
  writeFileSync(join(home, 'run', 'http.url'), 'http://203.0.113.9:80\n');
  await t.rejects(runChat({ message: 'x', json: true, env: { SECAI_HOME: home }, output: out }), { code: 'SECAI_E_CONFIG_INVALID' }, 'a non-loopback URL is refused');
});

t.test('inference — a model removed from the registry is unloaded at once; a malformed event changes nothing', async (t) => {
  const { unloadRemovedModels } = await import('../../runtime/unload-removed.js');
  const { encode } = await import('../../bus/codec.js');
  const { createLogger } = await import('../../common/log.js');
  stack.registry.set('doomed', { name: 'doomed', path: modelPath, sha256 });
  await stack.host.load('doomed');
  const inference = await stack.bus.connect('inference');
  const registry = await stack.bus.connect('registry');
  t.teardown(async () => { await inference.close(); await registry.close(); });
  unloadRemovedModels(inference, () => stack.host, createLogger('test', 'silent'));
  await inference.nc.flush();
  const names = () => stack.host.list().map((m) => m['name']).sort();
  const until = async (ok: () => boolean) => { for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50)); };

  // Handled one at a time in order: by the time the valid event has unloaded 'doomed', the malformed
  // ones naming 'tiny' (and one for a model that is not loaded) have been judged.
  registry.nc.publish('secai.evt.registry.removed', encode({ name: 'tiny', sha256: 'not-a-digest', by: 'operator', keyId: 'k' }));
  registry.nc.publish('secai.evt.registry.removed', encode({ name: 'tiny', by: 'someone' }));
  registry.nc.publish('secai.evt.registry.removed', encode({ name: 'tiny', sha256, by: 'operator', keyId: 'k', extra: true }));
  registry.nc.publish('secai.evt.registry.removed', encode({ name: 'other', sha256, by: 'operator', keyId: 'k' }));
  registry.nc.publish('secai.evt.registry.removed', encode({ name: 'doomed', sha256, by: 'operator', keyId: 'k' }));
  await until(() => !names().includes('doomed'));
  t.same(names(), ['tiny'], 'only the removed model is unloaded; malformed events changed nothing');
  t.match(stack.events.find((e) => e.event === 'model_unloaded' && e.payload['name'] === 'doomed')?.payload, { reason: 'removed from the registry' });
});
