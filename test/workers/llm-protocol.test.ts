// The llm worker protocol: garbage, oversized and wrong-typed messages are refused in both directions with
// SECAI_E_WORKER_PROTOCOL, by the checks and by the real worker process.
import t, { type Test } from 'tap';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { parseFromWorker, parseToWorker, type FromWorker, type ToWorker } from '../../workers/protocol.js';
import { spawnWorker } from '../../workers/sandbox.js';

const sha = 'a'.repeat(64);
const refused = (t: Test, f: () => unknown, what: string) => {
  try {
    f();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.equal((err as SecaiError).code, ErrorCode.WORKER_PROTOCOL, `${what}: SECAI_E_WORKER_PROTOCOL`);
  }
};

t.test('llm protocol — well-formed messages pass both ways, typed', async (t) => {
  const to: ToWorker[] = [
    { type: 'load', modelPath: '/m.gguf', sha256: sha, threads: 1, contextSize: 2048, gpu: 'auto' },
    { type: 'generate', id: 'r1', mode: 'chat', messages: [{ role: 'user', content: 'hi' }], maxTokens: 8, temperature: 0, stop: ['\n'] },
    { type: 'generate', id: 'r2', mode: 'completion', prompt: 'hi', maxTokens: 8, temperature: 0.7, topP: 0.9, seed: 1 },
    { type: 'cancel', id: 'r1' },
    { type: 'shutdown' },
  ];
  for (const m of to) t.same(parseToWorker(m), m, `to worker: ${m.type}`);
  const from: FromWorker[] = [
    { type: 'started', pid: 42 },
    { type: 'loaded', info: { gpu: false, threads: 1, contextSize: 2048, architecture: 'llama', trainContextSize: 4096, sequences: 1, loadMs: 12.5 } },
    { type: 'loaded', info: { gpu: 'cuda', threads: 8, contextSize: 2048, architecture: 'llama', trainContextSize: 4096, sequences: 4, loadMs: 1 } },
    { type: 'token', id: 'r1', text: 'hello' },
    { type: 'done', id: 'r1', finishReason: 'length', usage: { promptTokens: 3, completionTokens: 8 }, firstTokenMs: 1, totalMs: 9 },
    { type: 'error', error: { code: 'SECAI_E_MODEL_INVALID', message: 'bad header' } },
    { type: 'error', id: 'r1', error: { code: 'SECAI_E_CANCELLED', message: 'cancelled' } },
  ];
  for (const m of from) t.same(parseFromWorker(m), m, `from worker: ${m.type}`);
});

t.test('llm protocol — garbage, oversized and wrong-typed messages from the worker are refused', async (t) => {
  const cases: [string, unknown][] = [
    ['null', null], ['a string', 'loaded'], ['a number', 7], ['an array', [{ type: 'token' }]], ['no type', { id: 'r1', text: 'x' }],
    ['an unknown type', { type: 'exec', command: 'sh' }],
    ['a token with a number for text', { type: 'token', id: 'r1', text: 42 }],
    ['an oversized token', { type: 'token', id: 'r1', text: 'x'.repeat(64 * 1024 + 1) }],
    ['an oversized id', { type: 'token', id: 'x'.repeat(129), text: 'x' }],
    ['an extra key', { type: 'token', id: 'r1', text: 'x', html: '<script>' }],
    ['a finish reason it does not have', { type: 'done', id: 'r1', finishReason: 'exploded', usage: { promptTokens: 1, completionTokens: 1 }, firstTokenMs: 1, totalMs: 1 }],
    ['negative usage', { type: 'done', id: 'r1', finishReason: 'stop', usage: { promptTokens: -1, completionTokens: 1 }, firstTokenMs: 1, totalMs: 1 }],
    ['info with a string for threads', { type: 'loaded', info: { gpu: false, threads: 'all', contextSize: 1, architecture: 'x', trainContextSize: 1, loadMs: 1 } }],
    ['gpu true (only a name or false)', { type: 'loaded', info: { gpu: true, threads: 1, contextSize: 1, architecture: 'x', trainContextSize: 1, loadMs: 1 } }],
    ['an error code outside SECAI_E_*', { type: 'error', error: { code: 'rm -rf /', message: 'x' } }],
    ['an oversized error message', { type: 'error', error: { code: 'SECAI_E_INTERNAL', message: 'x'.repeat(4097) } }],
    ['a started pid of 0', { type: 'started', pid: 0 }],
  ];
  for (const [what, m] of cases) refused(t, () => parseFromWorker(m), what);
});

t.test('llm protocol — malformed messages to the worker are refused', async (t) => {
  const cases: [string, unknown][] = [
    ['undefined', undefined], ['an unknown type', { type: 'eval', code: '1' }],
    ['a load with a short hash', { type: 'load', modelPath: '/m', sha256: 'abc', threads: 1, contextSize: 1, gpu: 'auto' }],
    ['a load with gpu true', { type: 'load', modelPath: '/m', sha256: sha, threads: 1, contextSize: 1, gpu: true }],
    ['a chat without messages', { type: 'generate', id: 'r', mode: 'chat', messages: [], maxTokens: 1, temperature: 0 }],
    ['a chat message with a role it does not have', { type: 'generate', id: 'r', mode: 'chat', messages: [{ role: 'root', content: 'x' }], maxTokens: 1, temperature: 0 }],
    ['a completion without a prompt', { type: 'generate', id: 'r', mode: 'completion', maxTokens: 1, temperature: 0 }],
    ['an oversized prompt', { type: 'generate', id: 'r', mode: 'completion', prompt: 'x'.repeat(1024 * 1024 + 1), maxTokens: 1, temperature: 0 }],
    ['a fractional maxTokens', { type: 'generate', id: 'r', mode: 'completion', prompt: 'x', maxTokens: 1.5, temperature: 0 }],
    ['an extra key', { type: 'cancel', id: 'r', also: 'shutdown' }],
  ];
  for (const [what, m] of cases) refused(t, () => parseToWorker(m), what);
});

t.test('llm protocol — the real worker answers a malformed message with SECAI_E_WORKER_PROTOCOL and stays up', async (t) => {
  const w = spawnWorker({ allowUnsandboxed: true });
  t.teardown(() => { w.child.kill('SIGKILL'); });
  const inbox: FromWorker[] = [];
  let wake: () => void = () => {};
  w.child.on('message', (m: unknown) => { inbox.push(parseFromWorker(m)); wake(); });
  const next = async (): Promise<FromWorker> => {
    while (!inbox.length) await new Promise<void>((r) => { wake = r; });
    return inbox.shift()!;
  };
  t.match(await next(), { type: 'started' });
  for (const bad of [{ type: 'eval', code: 'process.exit(1)' }, 'shutdown', { type: 'generate', id: 'r', mode: 'completion', prompt: 42, maxTokens: 1, temperature: 0 }]) {
    w.child.send(bad);
    const m = await next();
    t.match(m, { type: 'error', error: { code: ErrorCode.WORKER_PROTOCOL } }, `refused: ${JSON.stringify(bad).slice(0, 60)}`);
  }
  t.equal(w.child.exitCode, null, 'the worker is still running');
  // And it still obeys a well-formed message.
  const exited = new Promise<number | null>((r) => w.child.once('exit', (c) => r(c)));
  w.child.send({ type: 'shutdown' } satisfies ToWorker);
  t.equal(await exited, 0);
});
